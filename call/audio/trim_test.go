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
