package audio

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// maxStep returns the largest difference between neighbouring samples.
func maxStep(x []int16) int {
	m := 0
	for i := 1; i < len(x); i++ {
		d := int(x[i]) - int(x[i-1])
		m = max(m, d, -d)
	}
	return m
}

// TestTrimQuiet: quiet audio is shortened by whole blocks, up to the
// most asked for and never more; loud audio is left alone; the cut in a
// quiet gap between loud stretches leaves the loud audio as it was and
// adds no edge.
func TestTrimQuiet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := func(n int, amp float64) []int16 {
		x := make([]int16, n)
		for i := range x {
			x[i] = int16(amp * (2*rng.Float64() - 1))
		}
		return x
	}
	tone := func(n int) []int16 {
		x := make([]int16, FrameSamples)
		NewToneSource(440, 0.5).ReadFrame(x)
		return x[:n]
	}

	// Quiet noise (-50 dBFS): trimmed by whole blocks up to the limit, at most one of
	// every two.
	for _, limit := range []int{0, TrimBlock - 1, TrimBlock, 2*TrimBlock + 7, 4 * TrimBlock, FrameSamples} {
		x := noise(FrameSamples, 100)
		out, n := TrimQuiet(x, limit)
		want := min(limit/TrimBlock, FrameSamples/TrimBlock/2) * TrimBlock
		if n != want || len(out) != FrameSamples-n {
			t.Errorf("limit %d: removed %d (%d left), want %d", limit, n, len(out), want)
		}
	}

	// A loud tone: untouched.
	x := tone(FrameSamples)
	orig := slices.Clone(x)
	if out, n := TrimQuiet(x, FrameSamples); n != 0 || !slices.Equal(out, orig) {
		t.Errorf("a tone lost %d samples", n)
	}

	// Tone, a quiet gap of 3 blocks (a 100 Hz hum at -41 dBFS), tone:
	// one block comes out of the gap, the tone on either side is kept
	// sample for sample.
	const humAmp = 300
	hum := func(from, n int) []int16 {
		x := make([]int16, n)
		for i := range x {
			x[i] = int16(humAmp * math.Sin(2*math.Pi*100*float64(from+i)/SampleRate))
		}
		return x
	}
	head, gap, tail := tone(3*TrimBlock), hum(0, 3*TrimBlock), tone(2*TrimBlock)
	x = slices.Concat(head, gap, tail)
	out, n := TrimQuiet(x, FrameSamples)
	if n != TrimBlock || len(out) != len(head)+len(gap)+len(tail)-TrimBlock {
		t.Fatalf("removed %d, want %d", n, TrimBlock)
	}
	if !slices.Equal(out[:len(head)], head) || !slices.Equal(out[len(out)-len(tail):], tail) {
		t.Error("the loud audio around the gap changed")
	}

	// The cut is crossfaded: trimming the second of two frames of hum
	// leaves no step much above the hum's own, there or at the frame
	// boundary (a plain cut would jump by up to twice its amplitude).
	first, second := hum(0, FrameSamples), hum(FrameSamples, FrameSamples)
	out, n = TrimQuiet(second, 2*TrimBlock)
	if n != 2*TrimBlock {
		t.Fatalf("hum: removed %d, want %d", n, 2*TrimBlock)
	}
	lim := maxStep(slices.Concat(first, hum(FrameSamples, FrameSamples))) + 2*humAmp/TrimBlock + 2
	if got := maxStep(slices.Concat(first[FrameSamples-1:], out)); got > lim {
		t.Errorf("a step of %d in trimmed hum, want at most %d", got, lim)
	}

	// Bad input never panics; what comes out is what went in, shorter by
	// whole blocks, at most the limit.
	for range 500 {
		n := rng.IntN(3 * FrameSamples)
		x := noise(n, math.Pow(10, 4*rng.Float64()))
		limit := rng.IntN(2*n+1) - n/2
		out, removed := TrimQuiet(x, limit)
		if removed < 0 || removed%TrimBlock != 0 || removed > max(limit, 0) || len(out) != n-removed {
			t.Fatalf("len %d, limit %d: removed %d, %d left", n, limit, removed, len(out))
		}
	}
	if out, n := TrimQuiet(nil, 1000); len(out) != 0 || n != 0 {
		t.Errorf("nil: %d left, %d removed", len(out), n)
	}
}

// TestTrimAligned: a tone loses whole periods at a cut that keeps its
// shape; noise, which never repeats itself, and a limit below 2.5 ms
// lose nothing; bad input never panics.
func TestTrimAligned(t *testing.T) {
	x := make([]int16, FrameSamples)
	NewToneSource(440, 0.5).ReadFrame(x)
	orig := slices.Clone(x)
	out, n := TrimAligned(x, FrameSamples)
	period := SampleRate / 440.0
	if k := math.Round(float64(n) / period); n < alignMin || n > alignMax || math.Abs(float64(n)-k*period) > 1 {
		t.Errorf("tone: removed %d samples, want whole periods of %.1f between %d and %d", n, period, alignMin, alignMax)
	}
	if len(out) != FrameSamples-n || !slices.Equal(out[TrimBlock:], orig[n+TrimBlock:]) {
		t.Error("tone: the audio after the cut is not the original's")
	}
	if got, lim := maxStep(out), maxStep(orig)+2; got > lim {
		t.Errorf("tone: a step of %d at the cut, want at most %d", got, lim)
	}
	// At most the limit, even where a longer cut would match better.
	NewToneSource(440, 0.5).ReadFrame(x)
	if _, n := TrimAligned(x, 300); n > 300 || n < alignMin {
		t.Errorf("tone, limit 300: removed %d", n)
	}

	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]int16, FrameSamples)
	for i := range noise {
		noise[i] = int16(8000 * (2*rng.Float64() - 1))
	}
	if _, n := TrimAligned(noise, FrameSamples); n != 0 {
		t.Errorf("noise: removed %d", n)
	}
	NewToneSource(440, 0.5).ReadFrame(x)
	if _, n := TrimAligned(x, alignMin-1); n != 0 {
		t.Errorf("limit below 2.5 ms: removed %d", n)
	}
	for range 300 {
		n := rng.IntN(2 * FrameSamples)
		y := make([]int16, n)
		for i := range y {
			y[i] = int16(rng.IntN(65536) - 32768)
		}
		limit := rng.IntN(2*n+1) - n/2
		out, removed := TrimAligned(y, limit)
		if removed < 0 || removed > max(limit, 0) || len(out) != n-removed {
			t.Fatalf("len %d, limit %d: removed %d, %d left", n, limit, removed, len(out))
		}
	}
	if out, n := TrimAligned(nil, 1000); len(out) != 0 || n != 0 {
		t.Errorf("nil: %d left, %d removed", len(out), n)
	}
}
