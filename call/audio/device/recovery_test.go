package device

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleynet/parley/call/audio"
)

// TestLatencyRecovers runs BenchmarkCallLatency's call (the real capture
// queue, sender, receiver, playout clock and playback queue, with the
// sound cards emulated) in virtual time, so that nothing wakes late but
// what a case injects: a stall of the output card's thread (it plays
// silence for the periods it missed) or of the send loop (40 ms of
// packets come late, then in a burst). Half a second after the hiccup
// the delay must be back within TrimKeep and a trim block of what it
// was before, instead of staying up for the rest of the talk spurt. (A
// longer stall of the send loop is jitter that the jitter buffer's
// target rightly grows for; the delay then comes down with the target,
// over its window.)
func TestLatencyRecovers(t *testing.T) {
	const (
		at      = time.Second
		stall   = 40 * time.Millisecond
		recover = 500 * time.Millisecond
		slack   = TrimKeep + audio.TrimBlock*time.Second/audio.SampleRate
	)
	for _, tc := range []struct {
		name string
		f    faults
	}{
		{"none", faults{}},
		{"output card stalls", faults{outputAt: at, outputStall: stall}},
		{"send loop stalls", faults{sendAt: at, sendStall: stall}},
		{"output card stalls 100 ms", faults{outputAt: at, outputStall: 100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(3) {
				t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						r, err := runCall(seed, tc.f)
						if err != nil {
							t.Fatal(err)
						}
						t.Logf("seed %d: onsets %v delays %v; %s", seed, r.onsets, r.delays, r.stats)
						if r.missed > 0 || len(r.delays) == 0 {
							t.Fatalf("%d of %d bursts not found at the output", r.missed, r.bursts)
						}
						var before time.Duration
						for i, on := range r.onsets {
							switch {
							case on < at:
								before = max(before, r.delays[i])
							case on >= at+recover && r.delays[i] > before+slack:
								t.Errorf("seed %d: the burst at %v took %v, %v before the hiccup at %v",
									seed, on, r.delays[i], before, at)
							}
						}
						if r.gapped > 0 {
							t.Errorf("seed %d: %d bursts with a dropout", seed, r.gapped)
						}
						if tc.f == (faults{}) && r.stats.trimmed+r.stats.dropped > 0 {
							t.Errorf("seed %d: %d samples trimmed and %d dropped with nothing going wrong",
								seed, r.stats.trimmed, r.stats.dropped)
						}
					})
				})
			}
		})
	}
}
