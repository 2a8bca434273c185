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
