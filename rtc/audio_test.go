package rtc

import (
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// audioPacket is one RTP packet an audioSink got.
type audioPacket struct {
	seq     uint16
	ts      uint32
	payload []byte
	at      time.Time
}

// audioSink records the packets of a session's OnPacket.
type audioSink struct {
	mu   sync.Mutex
	pkts []audioPacket
	more chan struct{}
}

func newAudioSink() *audioSink { return &audioSink{more: make(chan struct{}, 1)} }

func (a *audioSink) push(seq uint16, ts uint32, payload []byte) {
	a.mu.Lock()
	a.pkts = append(a.pkts, audioPacket{seq, ts, payload, time.Now()})
	a.mu.Unlock()
	select {
	case a.more <- struct{}{}:
	default:
	}
}

func (a *audioSink) packets() []audioPacket {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audioPacket(nil), a.pkts...)
}

// waitFor waits until the sink has n packets.
func (a *audioSink) waitFor(t testing.TB, n int, d time.Duration) []audioPacket {
	t.Helper()
	deadline := time.After(d)
	for {
		if p := a.packets(); len(p) >= n {
			return p
		}
		select {
		case <-a.more:
		case <-deadline:
			t.Fatalf("%d audio packets after %v, want %d", len(a.packets()), d, n)
		}
	}
}

// numbered is a fake Opus packet carrying n.
func numbered(n uint32) []byte {
	b := make([]byte, 40)
	binary.BigEndian.PutUint32(b, n)
	copy(b[4:], "opus frame")
	return b
}

// audioTweak gives both ends of a pair audio into the sinks.
func audioTweak(offerer, answerer *audioSink) func(*Config) {
	return func(c *Config) {
		sink := answerer
		if c.Offerer {
			sink = offerer
		}
		c.Audio = &AudioConfig{OnPacket: sink.push}
	}
}

// TestAudio negotiates the Opus track and sends numbered packets both ways
// at once: each arrives, in order, with sequence numbers one apart and
// timestamps 960 (20 ms at 48 kHz) apart, and a frame left out for DTX
// moves the timestamp on without a packet.
func TestAudio(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, publicPair)
		sinkA, sinkB := newAudioSink(), newAudioSink()
		var offer, answer string
		p := newPairWith(t, w, audioTweak(sinkA, sinkB), func(p *pair) {
			p.ab.rewrite = func(s Signal) Signal {
				if s.Kind == KindOffer {
					offer = s.SDP
				}
				return s
			}
			p.ba.rewrite = func(s Signal) Signal {
				if s.Kind == KindAnswer {
					answer = s.SDP
				}
				return s
			}
			if err := p.a.WriteAudio(numbered(0), FrameDuration); !errors.Is(err, ErrNotOpen) {
				t.Errorf("WriteAudio before the connection: %v, want ErrNotOpen", err)
			}
		})
		waitOpen(t, p.a, 10*time.Second)
		waitOpen(t, p.b, 10*time.Second)

		for _, sdp := range []string{offer, answer} {
			for _, want := range []string{"m=audio ", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 " + OpusFmtp, "a=sendrecv", "m=application "} {
				if !strings.Contains(sdp, want) {
					t.Errorf("SDP has no %q:\n%s", want, sdp)
				}
			}
			if strings.Count(sdp, "a=rtpmap:") != 1 {
				t.Errorf("SDP offers other codecs than Opus:\n%s", sdp)
			}
		}

		if err := p.a.WriteAudio(make([]byte, MaxAudioPacket+1), FrameDuration); !errors.Is(err, ErrTooLarge) {
			t.Errorf("WriteAudio of %d bytes: %v, want ErrTooLarge", MaxAudioPacket+1, err)
		}

		const n = 50
		var wg sync.WaitGroup
		for _, s := range []*Session{p.a.Session, p.b.Session} {
			wg.Go(func() {
				tick := time.NewTicker(FrameDuration)
				defer tick.Stop()
				for i := range uint32(n) {
					<-tick.C
					if i == 10 {
						// A frame of silence DTX left out.
						if err := s.WriteAudio(nil, FrameDuration); err != nil {
							t.Errorf("WriteAudio(nil): %v", err)
						}
						continue
					}
					if err := s.WriteAudio(numbered(i), FrameDuration); err != nil {
						t.Errorf("WriteAudio(%d): %v", i, err)
					}
				}
			})
		}
		wg.Wait()
		for name, sink := range map[string]*audioSink{"offerer": sinkA, "answerer": sinkB} {
			got := sink.waitFor(t, n-1, 5*time.Second)
			if len(got) != n-1 {
				t.Errorf("%s got %d packets, want %d", name, len(got), n-1)
			}
			for i := 1; i < len(got); i++ {
				prev, cur := got[i-1], got[i]
				wantTS := uint32(960)
				if binary.BigEndian.Uint32(cur.payload) == 11 {
					wantTS = 2 * 960 // the DTX gap
				}
				if cur.seq != prev.seq+1 || cur.ts-prev.ts != wantTS {
					t.Errorf("%s: packet %d: seq %d ts %d after seq %d ts %d, want +1 and +%d",
						name, i, cur.seq, cur.ts, prev.seq, prev.ts, wantTS)
				}
			}
			for i, pk := range got {
				want := uint32(i)
				if i >= 10 {
					want++
				}
				if num := binary.BigEndian.Uint32(pk.payload); num != want || string(pk.payload[4:14]) != "opus frame" {
					t.Errorf("%s: packet %d carries %d %q, want %d", name, i, num, pk.payload[4:14], want)
				}
			}
		}

		// After the end, nothing more is written or delivered.
		p.a.Close()
		if err := p.a.WriteAudio(numbered(99), FrameDuration); !errors.Is(err, ErrClosed) {
			t.Errorf("WriteAudio after Close: %v, want ErrClosed", err)
		}
		<-p.a.Done()
		before := len(sinkA.packets())
		p.b.WriteAudio(numbered(100), FrameDuration)
		time.Sleep(100 * time.Millisecond)
		if after := len(sinkA.packets()); after != before {
			t.Errorf("%d packets delivered after OnClose", after-before)
		}
		for _, e := range append(p.ab.errors(), p.ba.errors()...) {
			t.Errorf("signal refused: %v", e)
		}
	})
}

func TestWriteAudioWithoutAudio(t *testing.T) {
	s, err := NewSession(Config{Offerer: true, Send: func(Signal) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WriteAudio(numbered(1), FrameDuration); !errors.Is(err, ErrNoAudio) {
		t.Fatalf("WriteAudio on a data-only session: %v, want ErrNoAudio", err)
	}
}

// TestAudioNeedsOpus: an audio session refuses an offer without an Opus
// section (the data-only offer of captureOffer).
func TestAudioNeedsOpus(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, publicPair)
		offer, _ := captureOffer(t, w)
		s, err := NewSession(Config{Net: w.Nets[1], SettingEngine: udp4Only, Audio: &AudioConfig{},
			Send: func(Signal) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.HandleSignal(offer); !errors.Is(err, ErrBadSignal) {
			t.Fatalf("data-only offer to an audio session: %v, want ErrBadSignal", err)
		}
	})
}
