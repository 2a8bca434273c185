package audio

import "math"

// Trimming: how playback lowers a delay that has built up (an underrun
// at the sound card, a late tick of the playout clock, a stretch of the
// jitter buffer) without a click: it takes out a few milliseconds where
// the audio is quiet (a pause between words, comfort noise in a DTX
// gap), crossfading across each cut.
const (
	// TrimBlock is the unit of trimming: 2.5 ms. TrimQuiet removes whole
	// blocks.
	TrimBlock = SampleRate / 400
	// QuietLevel is the RMS, in dBFS, at or below which audio counts as
	// quiet enough to take out: a room's background noise and Opus's
	// comfort noise are below it, speech is well above.
	QuietLevel = -40.0
)

// quietRMS is QuietLevel in sample units.
var quietRMS = math.MaxInt16 * math.Pow(10, QuietLevel/20)

// TrimQuiet shortens pcm in place by up to limit samples, in whole blocks
// of TrimBlock, taken only where two blocks in a row are quiet (RMS at
// or below QuietLevel): the pair is replaced by one block that
// crossfades from the first to the second, so the cut has no edge. It
// returns the shortened slice (sharing pcm's array) and how many samples
// it removed. Loud audio is never touched; a limit below TrimBlock removes nothing.
func TrimQuiet(pcm []int16, limit int) ([]int16, int) {
	const n = TrimBlock
	if limit < n || len(pcm) < 2*n {
		return pcm, 0
	}
	thr := quietRMS * quietRMS * 2 * n // energy of two blocks at QuietLevel
	removed, w, i := 0, 0, 0
	for i+n <= len(pcm) {
		if removed+n <= limit && i+2*n <= len(pcm) && energy(pcm[i:i+2*n]) <= thr {
			a, b := pcm[i:i+n], pcm[i+n:i+2*n]
			for k := range n {
				g := (float64(k) + 0.5) / n
				pcm[w+k] = int16(math.Round(float64(a[k])*(1-g) + float64(b[k])*g))
			}
			w += n
			i += 2 * n
			removed += n
			continue
		}
		copy(pcm[w:w+n], pcm[i:i+n])
		w += n
		i += n
	}
	w += copy(pcm[w:], pcm[i:])
	return pcm[:w], removed
}

// energy returns the sum of the squares of x.
func energy(x []int16) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return e
}

// Aligned trimming, for audio with no quiet point (music, a noisy
// room): one stretch of a period's length is taken out where the audio
// repeats itself, as WSOLA time-scale modification does.
const (
	// alignMin and alignMax bound the stretch TrimAligned takes out:
	// 2.5–12.5 ms, a pitch period of 80–400 Hz.
	alignMin = TrimBlock
	alignMax = 5 * TrimBlock
	// alignCorr is the least normalized correlation across the cut.
	alignCorr = 0.5
)

// TrimAligned shortens pcm in place by one stretch of 2.5–12.5 ms, at
// most limit samples, at its start: the stretch whose end best matches
// its start (normalized cross-correlation over TrimBlock samples, at
// least 0.5), with a TrimBlock crossfade across the cut, so a voiced or
// tonal signal loses whole periods and keeps its shape. It returns the
// shortened slice (sharing pcm's array) and how many samples it removed:
// none if pcm is too short, limit below 2.5 ms, or nothing matches well
// enough (noise).
func TrimAligned(pcm []int16, limit int) ([]int16, int) {
	const w = TrimBlock
	hi := min(limit, alignMax, len(pcm)-w)
	if hi < alignMin {
		return pcm, 0
	}
	a := pcm[:w]
	ea := energy(a)
	if ea == 0 {
		return pcm, 0
	}
	best, bestC := 0, alignCorr
	for l := alignMin; l <= hi; l++ {
		b := pcm[l : l+w]
		var ab float64
		for k := range w {
			ab += float64(a[k]) * float64(b[k])
		}
		if eb := energy(b); eb > 0 {
			if c := ab / math.Sqrt(ea*eb); c > bestC {
				best, bestC = l, c
			}
		}
	}
	if best == 0 {
		return pcm, 0
	}
	for k := range w {
		g := (float64(k) + 0.5) / w
		pcm[k] = int16(math.Round(float64(pcm[k])*(1-g) + float64(pcm[best+k])*g))
	}
	n := copy(pcm[w:], pcm[best+w:])
	return pcm[:w+n], best
}
