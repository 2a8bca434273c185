package app

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleynet/parley/call"
	"github.com/parleynet/parley/call/audio"
	"github.com/parleynet/parley/store"
)

// capture is a Sink that keeps what it is given.
type capture struct {
	mu  sync.Mutex
	pcm []int16
}

func (c *capture) WriteFrame(pcm []int16) error {
	c.mu.Lock()
	c.pcm = append(c.pcm, pcm...)
	c.mu.Unlock()
	return nil
}

func (c *capture) Close() error { return nil }

func (c *capture) samples() []int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int16(nil), c.pcm...)
}

// toneAnalysis fits a sine of freq to pcm (least squares) and returns its
// amplitude and the signal-to-noise ratio of the fit, in dB. The SNR bound
// the test asserts is 20 dB per 20 ms block (median); a clean Opus link at
// 24 kbit/s gives about 27 dB (docs/BENCHMARKS.md).
func toneAnalysis(pcm []int16, freq float64) (amp, snr float64) {
	var ss, sc, cc, xs, xc, xx float64
	for i, v := range pcm {
		x := float64(v)
		ph := 2 * math.Pi * freq * float64(i) / audio.SampleRate
		s, c := math.Sin(ph), math.Cos(ph)
		ss += s * s
		sc += s * c
		cc += c * c
		xs += x * s
		xc += x * c
		xx += x * x
	}
	det := ss*cc - sc*sc
	a := (xs*cc - xc*sc) / det
	b := (xc*ss - xs*sc) / det
	var sig float64
	for i := range pcm {
		ph := 2 * math.Pi * freq * float64(i) / audio.SampleRate
		fit := a*math.Sin(ph) + b*math.Cos(ph)
		sig += fit * fit
	}
	noise := xx - sig
	return math.Hypot(a, b), 10 * math.Log10(sig/max(noise, 1e-9))
}

// blockSNR fits freq to each 20 ms block of pcm on its own (so that the
// phase jumps of frames the jitter buffer inserts or drops do not count as
// noise) and returns the median amplitude and SNR over the blocks.
func blockSNR(pcm []int16, freq float64) (amp, snr float64) {
	var amps, snrs []float64
	for i := 0; i+audio.FrameSamples <= len(pcm); i += audio.FrameSamples {
		a, s := toneAnalysis(pcm[i:i+audio.FrameSamples], freq)
		amps, snrs = append(amps, a), append(snrs, s)
	}
	slices.Sort(amps)
	slices.Sort(snrs)
	return amps[len(amps)/2], snrs[len(snrs)/2]
}

// toneMedia sends a tone of freq and keeps what it hears in out.
func toneMedia(freq float64, out *capture) audio.Media {
	return audio.Media{
		Input:  func(call.Info) (audio.Source, error) { return audio.NewToneSource(freq, 0.5), nil },
		Output: func(call.Info) (audio.Sink, error) { return out, nil },
	}
}

func TestCallCarriesToneBothWays(t *testing.T) {
	seed := startSeedPeer(t, 1000)
	var heardByAlice, heardByBob capture
	levels := make(chan [3]float64, 1)
	muted, bobHears := make(chan error, 1), make(chan float64, 1)
	alice := newChatUser(t, seed.peer.Addr(), "alice")
	bob := newChatUser(t, seed.peer.Addr(), "bob")
	// Restart both with audio: alice sends 440 Hz, bob 660 Hz and answers.
	alice.stop()
	bob.stop()
	alice.extra = func(o *Options) { o.Media = toneMedia(440, &heardByAlice) }
	bob.extra = func(o *Options) { o.Media = toneMedia(660, &heardByBob); o.AutoAnswer = true }
	alice.start()
	bob.start()
	ctx := context.Background()
	if _, err := alice.chat().AddContact(ctx, "bob", ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "request", func() bool { return bob.contact("alice").State == store.ContactIncoming })
	bob.chat().Accept(ctx, bob.contact("alice").ID)
	waitUntil(t, 10*time.Second, "accepted", func() bool { return alice.contact("bob").State == store.ContactAccepted })

	// Mid-call: levels for the meters, and mute.
	go func() {
		for {
			calls := alice.run.peer.calls.Calls()
			if len(calls) == 1 && calls[0].State == call.StateActive {
				time.Sleep(time.Second)
				id := calls[0].ID
				// The loudest of 25 frames' levels: one frame alone may
				// be a concealed one when the machine is busy (it read
				// -17 dBFS once in a CI run under the race detector).
				in, out, ok := math.Inf(-1), math.Inf(-1), true
				for range 25 {
					i, o, k := alice.run.peer.calls.Levels(id)
					in, out, ok = max(in, i), max(out, o), ok && k
					time.Sleep(20 * time.Millisecond)
				}
				levels <- [3]float64{in, out, map[bool]float64{true: 1}[ok]}
				// Alice mutes: bob hears silence.
				muted <- alice.run.peer.calls.SetMuted(id, true)
				time.Sleep(500 * time.Millisecond)
				_, bobOut, _ := bob.run.peer.calls.Levels(id)
				bobHears <- bobOut
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	ci, err := alice.run.peer.CallFor(ctx, "bob", CallOptions{}, 3*time.Second)
	if err != nil {
		t.Fatalf("call: %v (%+v)", err, ci)
	}
	if ci.Outcome != string(store.CallAnswered) || ci.Seconds < 2.5 {
		t.Fatalf("call ended %+v", ci)
	}
	t.Logf("call: %.1f s over %s, %d packets sent, %d received", ci.Seconds, ci.Path, ci.Sent, ci.Received)
	if l := <-levels; l[2] != 1 || l[0] < -12 || l[1] < -12 {
		t.Errorf("levels mid-call: in %.1f dBFS, out %.1f dBFS (ok %v); want both about -9 dBFS (a tone at half scale)", l[0], l[1], l[2] == 1)
	} else {
		t.Logf("levels mid-call: in %.1f dBFS, out %.1f dBFS", l[0], l[1])
	}
	if err := <-muted; err != nil {
		t.Fatalf("mute: %v", err)
	}
	if l := <-bobHears; l > -50 {
		t.Errorf("bob hears %.1f dBFS from a muted alice", l)
	}
	for _, tc := range []struct {
		who  string
		got  *capture
		freq float64
	}{{"bob hears alice", &heardByBob, 440}, {"alice hears bob", &heardByAlice, 660}} {
		pcm := tc.got.samples()
		// Skip the first 0.4 s (jitter buffer fill, codec start).
		if len(pcm) < audio.SampleRate*2 {
			t.Fatalf("%s: only %d samples", tc.who, len(pcm))
		}
		pcm = pcm[audio.SampleRate*2/5 : audio.SampleRate*19/20] // before alice mutes
		amp, snr := blockSNR(pcm, tc.freq)
		_, wrong := blockSNR(pcm, tc.freq*1.5)
		t.Logf("%s: %.0f Hz at amplitude %.0f, SNR %.1f dB (a %.0f Hz fit: %.1f dB)", tc.who, tc.freq, amp, snr, tc.freq*1.5, wrong)
		if amp < 8000 || snr < 20 {
			t.Errorf("%s: the %.0f Hz tone did not come through (amplitude %.0f, SNR %.1f dB; want ≥ 20 dB)", tc.who, tc.freq, amp, snr)
		}
		if wrong > 0 {
			t.Errorf("%s: the audio fits %.0f Hz too (%.1f dB)", tc.who, tc.freq*1.5, wrong)
		}
	}
	calls, err := bob.prof.DB.RecentCalls(ctx, 10)
	if err != nil || len(calls) != 1 || calls[0].Outcome != store.CallAnswered || calls[0].Direction != store.Incoming {
		t.Fatalf("bob's call log: %+v, %v", calls, err)
	}
}

func TestCallWithoutAudioSaysSo(t *testing.T) {
	seed := startSeedPeer(t, 1000)
	alice := newChatUser(t, seed.peer.Addr(), "alice")
	if _, err := alice.run.peer.Call(context.Background(), "bob", CallOptions{}); err == nil {
		t.Fatal("a call without audio was placed")
	} else if err != ErrNoAudio {
		// No contact named bob is also an error; the audio check comes first.
		t.Fatalf("err %v, want ErrNoAudio", err)
	}
}
