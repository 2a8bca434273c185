package rtc

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/transport/v2/vnet"

	"github.com/parleynet/parley/overlay/wire"
)

// blackhole drops packets between two host:port endpoints on a router,
// once set: a NAT that lost its mapping, or a path that broke.
type blackhole struct {
	mu   sync.Mutex
	a, b string
	hits atomic.Int64
}

func (h *blackhole) set(a, b string) {
	h.mu.Lock()
	h.a, h.b = a, b
	h.mu.Unlock()
}

func (h *blackhole) pass(c vnet.Chunk) bool {
	h.mu.Lock()
	a, b := h.a, h.b
	h.mu.Unlock()
	if a == "" {
		return true
	}
	src, dst := c.SourceAddr().String(), c.DestinationAddr().String()
	if src == a && dst == b || src == b && dst == a {
		h.hits.Add(1)
		return false
	}
	return true
}

// lastNumber is the number in the newest packet of a sink, or -1.
func lastNumber(s *audioSink) int64 {
	p := s.packets()
	if len(p) == 0 {
		return -1
	}
	return int64(binary.BigEndian.Uint32(p[len(p)-1].payload))
}

// TestICERestart talks over a pair behind port-restricted NATs, then
// breaks the path in use (the NATs "forget" the mapping: every packet
// between the two public endpoints is dropped) and restarts ICE, once from
// the offerer and once at the answerer's request. Audio stops, and
// resumes over a new path within a couple of seconds, both ways; the
// session stays the same (no new DTLS handshake, same certificates), and
// OnInterrupted says when it was lost and back.
func TestICERestart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, [2]natKind{natPortRestricted, natPortRestricted})
		var hole blackhole
		w.WAN.AddChunkFilter(hole.pass)
		sinkA, sinkB := newAudioSink(), newAudioSink()
		interrupts := make(chan bool, 16)
		p := newPair(t, w, func(c *Config) {
			audioTweak(sinkA, sinkB)(c)
			if c.Offerer {
				c.OnInterrupted = func(on bool) { interrupts <- on }
			}
		})
		waitOpen(t, p.a, 10*time.Second)
		waitOpen(t, p.b, 10*time.Second)
		stop := make(chan struct{})
		defer close(stop)
		go sendAudio(p.a.Session, stop)
		go sendAudio(p.b.Session, stop)
		sinkA.waitFor(t, 10, 5*time.Second)
		sinkB.waitFor(t, 10, 5*time.Second)
		fpA, fpB := p.a.PresentedFingerprint(), p.b.PresentedFingerprint()

		for round, restarter := range []*peer{p.a, p.b} {
			before, _ := p.a.Path()
			beforeB, _ := p.b.Path()
			if before.Relayed() {
				t.Fatalf("round %d: path %v relayed between port-restricted NATs", round, before)
			}
			// Each end's remote address is the other's public endpoint, the
			// one the NAT mapped.
			hole.set(beforeB.RemoteAddr, before.RemoteAddr)
			// The path is dead: audio stops.
			time.Sleep(300 * time.Millisecond)
			stalledA, stalledB := lastNumber(sinkA), lastNumber(sinkB)
			time.Sleep(300 * time.Millisecond)
			if lastNumber(sinkA) != stalledA || lastNumber(sinkB) != stalledB {
				t.Fatalf("round %d: audio still flowing over the blackholed path", round)
			}
			if hole.hits.Load() == 0 {
				t.Fatalf("round %d: nothing hit the blackhole", round)
			}

			start := time.Now()
			if err := restarter.RestartICE(); err != nil {
				t.Fatalf("round %d: RestartICE: %v", round, err)
			}
			deadline := time.Now().Add(8 * time.Second)
			for lastNumber(sinkA) <= stalledA+5 || lastNumber(sinkB) <= stalledB+5 {
				if time.Now().After(deadline) {
					t.Fatalf("round %d: audio did not resume within 8 s of the restart (offerer at %d, answerer at %d)",
						round, lastNumber(sinkA), lastNumber(sinkB))
				}
				time.Sleep(10 * time.Millisecond)
			}
			took := time.Since(start)
			var after Path
			for ok := false; !ok && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				after, ok = p.a.Path()
			}
			t.Logf("round %d: audio back %v after the restart; path %v → %v", round,
				took.Round(time.Millisecond), before, after)
			if after.RemoteAddr == before.RemoteAddr {
				t.Errorf("round %d: same path %v after the restart", round, after)
			}
			if gen := p.a.generation(); gen != uint16(round+1) || p.b.generation() != gen {
				t.Errorf("round %d: ICE generations %d and %d, want %d", round, gen, p.b.generation(), round+1)
			}
			for _, want := range []bool{true, false} {
				select {
				case got := <-interrupts:
					if got != want {
						t.Errorf("round %d: OnInterrupted(%v), want (%v)", round, got, want)
					}
				case <-time.After(2 * time.Second):
					t.Errorf("round %d: no OnInterrupted(%v)", round, want)
				}
			}
		}
		if p.a.PresentedFingerprint() != fpA || p.b.PresentedFingerprint() != fpB {
			t.Error("the DTLS certificates changed across restarts")
		}
		// The RTP sequence carries on across the restarts. A few packets may
		// come out of order where the path changed (some still in flight on
		// the old one, which the jitter buffer puts right), but not a second's
		// worth: that would be a sequence started again.
		for i, sink := range []*audioSink{sinkA, sinkB} {
			got := sink.packets()
			for j := 1; j < len(got); j++ {
				if d := int16(got[j].seq - got[j-1].seq); d < -50 {
					t.Errorf("sink %d: sequence went back from %d to %d", i, got[j-1].seq, got[j].seq)
				}
			}
		}
		select {
		case <-p.a.closedAt:
			t.Fatal("the offerer closed")
		case <-p.b.closedAt:
			t.Fatal("the answerer closed")
		default:
		}
		for _, e := range append(p.ab.errors(), p.ba.errors()...) {
			t.Errorf("signal refused: %v", e)
		}

		// Signals of the first generation are stale now.
		stale := Signal{Session: p.a.ID(), Kind: KindCandidate, Candidate: "candidate:1 1 udp 2130706431 1.2.3.20 5000 typ host"}
		if err := p.a.HandleSignal(stale); !errors.Is(err, ErrBadSignal) {
			t.Errorf("candidate of generation 0 after restarts: %v, want ErrBadSignal", err)
		}
		if err := p.b.HandleSignal(Signal{Session: p.a.ID(), Kind: KindRestart}); !errors.Is(err, ErrUnexpectedSignal) {
			t.Errorf("restart request to the answerer: %v, want ErrUnexpectedSignal", err)
		}
	})
}

// TestRestartIsNotReplacedWhileChecking: both ends of a call restart ICE
// when they hear nothing for a while (the offerer restarts, the answerer
// asks it to), each on its own clock. A restart that is answered and
// checking its pairs is left to finish: a new one would throw its pairs
// away (pion drops them all), and with two watchdogs out of step asking
// turn about, restarts came faster than a pair could be accepted (a
// second for a peer-reflexive one, two for a relay) and the call died.
func TestRestartIsNotReplacedWhileChecking(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, [2]natKind{natPortRestricted, natPortRestricted})
		var cut atomic.Bool
		w.WAN.AddChunkFilter(func(vnet.Chunk) bool { return !cut.Load() })
		p := newPair(t, w, nil)
		waitOpen(t, p.a, 10*time.Second)
		waitOpen(t, p.b, 10*time.Second)
		cut.Store(true) // no pair can connect now
		defer cut.Store(false)
		if err := p.a.RestartICE(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for p.b.generation() != 1 || !p.a.answered() {
			if time.Now().After(deadline) {
				t.Fatal("the restart was not answered")
			}
			time.Sleep(10 * time.Millisecond)
		}
		for range 3 {
			if err := p.b.RestartICE(); err != nil { // the answerer's watchdog
				t.Fatal(err)
			}
			if err := p.a.RestartICE(); err != nil { // the offerer's
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if a, b := p.a.generation(), p.b.generation(); a != 1 || b != 1 {
			t.Errorf("ICE generations %d and %d while the first restart was checking, want 1", a, b)
		}
		for _, e := range append(p.ab.errors(), p.ba.errors()...) {
			t.Errorf("signal refused: %v", e)
		}
	})
}

// answered reports whether the offerer's last restart offer was answered.
func (s *Session) answered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restartAt.IsZero()
}

// generation is the session's ICE generation.
func (s *Session) generation() uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

func TestRestartBeforeConnected(t *testing.T) {
	s, err := NewSession(Config{Offerer: true, Send: func(Signal) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RestartICE(); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("RestartICE before the answer: %v, want ErrNotOpen", err)
	}
}

// TestSignalGenerationCBOR: the generation travels under key 9, and is
// left out when 0 (so first-generation signals encode as before).
func TestSignalGenerationCBOR(t *testing.T) {
	in := Signal{Session: NewSessionID(), Kind: KindRestart, Generation: 3}
	b, err := wire.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[int]any
	if err := wire.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	if g, ok := keys[9].(uint64); !ok || g != 3 {
		t.Fatalf("key 9 is %T %v, want 3", keys[9], keys[9])
	}
	var out Signal
	if err := wire.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("round trip: %+v (%v), want %+v", out, err, in)
	}
}
