package audio

import (
	"testing"
	"time"
)

// steady returns the part of out to measure: from 1 s after the first
// sound to the end of the n frames.
func steady(t *testing.T, r simResult, sentFrames int) []int16 {
	t.Helper()
	if r.primeAt < 0 {
		t.Fatal("no sound came out")
	}
	from := r.primeAt + SampleRate
	to := r.primeAt + (sentFrames-50)*FrameSamples
	if to > len(r.out) {
		to = len(r.out)
	}
	if to-from < SampleRate {
		t.Fatalf("too little output to measure: %d samples", to-from)
	}
	return r.out[from:to]
}

// TestToneEndToEnd: a 440 Hz tone through Sender → network → Receiver →
// sink comes out at 440 Hz with the stated SNR.
func TestToneEndToEnd(t *testing.T) {
	const n = 500 // 10 s
	cases := []struct {
		name     string
		net      netModel
		minSNR   float64 // dB, block-fitted
		minWhole float64 // dB, one fit over the whole steady part (0 = not checked)
	}{
		// Clean path: only the codec's own noise. Measured about 25 dB
		// (SILK wideband at 24 kbit/s with 10% FEC on a pure tone).
		{"clean", netModel{delay: 40 * time.Millisecond, seed: 1}, 20, 20},
		// 60 ms of jitter (so packets arrive out of order) and extra
		// reordering, no loss: the jitter buffer absorbs it; what it
		// costs is a few stretched/late frames.
		{"jitter+reorder", netModel{delay: 40 * time.Millisecond, jitter: 60 * time.Millisecond, reorder: 0.05, seed: 2}, 15, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := simulate(t, n, tc.net, EncoderConfig{}, JitterConfig{})
			if r.frames != r.ticks {
				t.Fatalf("sink got %d frames for %d ticks", r.frames, r.ticks)
			}
			x := steady(t, r, n)
			f := peakFreq(x, 300, 600)
			b := blockSNR(x, 440)
			w := snr(x, 440)
			s := r.stats
			t.Logf("%s: peak %.0f Hz, block SNR %.1f dB, whole SNR %.1f dB, %.1f kbit/s; played %d fec %d concealed %d late %d stretched %d shrunk %d target %v delay %v jitter %v",
				tc.name, f, b, w, float64(r.bytes*8)/float64(r.sent)/20, s.Played, s.Recovered, s.Concealed, s.Late, s.Stretched, s.Shrunk, s.Target, s.Delay, s.Jitter)
			if f < 438 || f > 442 {
				t.Errorf("peak at %.0f Hz, want 440", f)
			}
			if b < tc.minSNR {
				t.Errorf("block SNR %.1f dB, want > %.0f dB", b, tc.minSNR)
			}
			if tc.minWhole > 0 && w < tc.minWhole {
				t.Errorf("whole SNR %.1f dB, want > %.0f dB", w, tc.minWhole)
			}
			if tc.net.loss == 0 && s.Late > uint64(n/20) {
				t.Errorf("%d late packets of %d: the target delay did not cover the jitter", s.Late, n)
			}
		})
	}
}

// TestLossKeepsPlaying: at 5% and 20% random loss every 20 ms tick still
// gives a frame, lost frames are concealed or recovered by FEC, and with
// the encoder told to expect the loss FEC recovers a good share.
func TestLossKeepsPlaying(t *testing.T) {
	const n = 1500 // 30 s
	for _, tc := range []struct {
		loss     float64
		minFEC   float64 // share of lost frames recovered by FEC
		minSNR   float64
		jitterMs int
	}{
		// Measured (seeds fixed): 5% → 79 of 85 lost frames recovered by
		// FEC, 29 dB; 20% → 217 of 281, 21 dB; 5% with 40 ms jitter → 75
		// of 80, 29 dB.
		{0.05, 0.7, 20, 0},
		{0.20, 0.5, 15, 0},
		{0.05, 0.6, 20, 40},
	} {
		name := func() string {
			s := "loss" + itoa(int(tc.loss*100)) + "%"
			if tc.jitterMs > 0 {
				s += "+jitter" + itoa(tc.jitterMs) + "ms"
			}
			return s
		}()
		t.Run(name, func(t *testing.T) {
			net := netModel{delay: 30 * time.Millisecond, jitter: time.Duration(tc.jitterMs) * time.Millisecond, loss: tc.loss, seed: uint64(tc.loss*1000) + uint64(tc.jitterMs)}
			r := simulate(t, n, net, EncoderConfig{ExpectedLoss: int(tc.loss * 100)}, JitterConfig{})
			if r.frames != r.ticks {
				t.Fatalf("sink got %d frames for %d ticks: playout has gaps", r.frames, r.ticks)
			}
			s := r.stats
			x := steady(t, r, n)
			b := blockSNR(x, 440)
			f := peakFreq(x, 300, 600)
			lost := s.Recovered + s.Concealed
			t.Logf("%s: sent %d lost %d (%.1f%%); played %d, FEC-recovered %d, concealed %d, late %d, stretched %d, shrunk %d; target %v; peak %.0f Hz, block SNR %.1f dB",
				name, r.sent, r.lost, 100*float64(r.lost)/float64(r.sent), s.Played, s.Recovered, s.Concealed, s.Late, s.Stretched, s.Shrunk, s.Target, f, b)
			if s.Recovered == 0 {
				t.Errorf("FEC recovered nothing although the encoder expected %.0f%% loss", tc.loss*100)
			}
			// Every lost packet's slot is either recovered or concealed;
			// the last few (lost at the very end) may stay unplayed.
			if lost+5 < uint64(r.lost) {
				t.Errorf("recovered %d + concealed %d < lost %d", s.Recovered, s.Concealed, r.lost)
			}
			if got := float64(s.Recovered) / float64(r.lost); got < tc.minFEC {
				t.Errorf("FEC recovered %.0f%% of lost frames, want ≥ %.0f%%", 100*got, 100*tc.minFEC)
			}
			if f < 438 || f > 442 {
				t.Errorf("peak at %.0f Hz, want 440", f)
			}
			if b < tc.minSNR {
				t.Errorf("block SNR %.1f dB, want > %.0f dB", b, tc.minSNR)
			}
		})
	}
}

// TestMediaClockUnderJitter: with the playout clock Media runs (it
// ticks when the jitter buffer's next slot is due, so that a hiccup's
// extra delay does not stay), the target still follows the jitter, few
// packets come too late, and the clock does not stretch every time the
// target creeps up: the delay stays within followCap of the target.
func TestMediaClockUnderJitter(t *testing.T) {
	const n = 1500 // 30 s
	ms := time.Millisecond
	for _, tc := range []struct {
		name      string
		net       netModel
		minTarget time.Duration
	}{
		{"calm", netModel{delay: 30 * ms, seed: 1}, DefaultMinDelay},
		{"jitter3ms", netModel{delay: 30 * ms, jitter: 3 * ms, seed: 3}, DefaultMinDelay},
		{"jitter10ms", netModel{delay: 30 * ms, jitter: 10 * ms, seed: 3}, 8 * ms},
		{"jitter60ms+reorder", netModel{delay: 30 * ms, jitter: 60 * ms, reorder: 0.05, seed: 2}, 50 * ms},
		// While packets are lost, a frame more for FEC's next packet.
		{"loss5%+jitter40ms", netModel{delay: 30 * ms, jitter: 40 * ms, loss: 0.05, seed: 4}, 50 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.net.mediaClock = true
			r := simulate(t, n, tc.net, EncoderConfig{ExpectedLoss: int(tc.net.loss * 100)}, JitterConfig{})
			s := r.stats
			b := blockSNR(steady(t, r, n), 440)
			t.Logf("%s: played %d, FEC-recovered %d, concealed %d, late %d, stretched %d, shrunk %d; target %v, delay %v, jitter %v; block SNR %.1f dB",
				tc.name, s.Played, s.Recovered, s.Concealed, s.Late, s.Stretched, s.Shrunk, s.Target, s.Delay, s.Jitter, b)
			if r.frames != r.ticks {
				t.Fatalf("sink got %d frames for %d ticks", r.frames, r.ticks)
			}
			if s.Target < tc.minTarget {
				t.Errorf("target %v, want at least %v: it did not follow the jitter", s.Target, tc.minTarget)
			}
			if s.Late > n/50 {
				t.Errorf("%d packets of %d late", s.Late, n)
			}
			if s.Stretched > n/50 {
				t.Errorf("%d stretches in %d frames: the clock is kept too close to the target", s.Stretched, n)
			}
			if s.Delay < s.Target || s.Delay > s.Target+followCap+time.Millisecond {
				t.Errorf("delay %v, want within %v above the target %v", s.Delay, followCap, s.Target)
			}
			if lost := s.Recovered + s.Concealed; tc.net.loss > 0 && float64(s.Recovered) < 0.7*float64(lost) {
				t.Errorf("FEC recovered %d of %d lost frames, want ≥ 70%%", s.Recovered, lost)
			}
			if b < 20 {
				t.Errorf("block SNR %.1f dB, want > 20 dB", b)
			}
		})
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
