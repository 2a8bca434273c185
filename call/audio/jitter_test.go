package audio

import (
	"math/rand/v2"
	"testing"
	"time"
)

// jbClock drives a JitterBuffer in fake time: packets are sent every
// 20 ms from seq0/ts0, arrive after delay(i), and the buffer is popped
// every 20 ms (5 ms after the send ticks).
type jbClock struct {
	jb      *JitterBuffer
	start   time.Time
	seq0    uint16
	ts0     uint32
	payload func(i int) []byte
	pending []Packet // sent, not yet arrived
	sent    int
	tick    int
	frames  []Frame
}

func newJBClock(cfg JitterConfig, seq0 uint16, ts0 uint32) *jbClock {
	return &jbClock{
		jb:      NewJitterBuffer(cfg),
		start:   time.Unix(1_700_000_000, 0),
		seq0:    seq0,
		ts0:     ts0,
		payload: func(int) []byte { return []byte{0xfc, 1, 2, 3} }, // CELT, no FEC
	}
}

// run sends and plays n more frames; delay(i) gives packet i's network
// delay, or a negative value to lose it.
func (c *jbClock) run(n int, delay func(i int) time.Duration) {
	for k := 0; k < n; k++ {
		i := c.sent
		c.sent++
		sendAt := c.start.Add(time.Duration(i) * FrameDuration)
		if d := delay(i); d >= 0 {
			c.pending = append(c.pending, Packet{
				Seq: c.seq0 + uint16(i), Timestamp: c.ts0 + uint32(i*FrameSamples),
				Payload: c.payload(i), Arrival: sendAt.Add(d),
			})
		}
		now := c.start.Add(time.Duration(c.tick)*FrameDuration + 5*time.Millisecond)
		c.tick++
		c.deliver(now)
		c.frames = append(c.frames, c.jb.Pop(now))
	}
}

// deliver pushes every pending packet that has arrived by now, in arrival
// order.
func (c *jbClock) deliver(now time.Time) {
	for {
		best := -1
		for i, p := range c.pending {
			if !p.Arrival.After(now) && (best < 0 || p.Arrival.Before(c.pending[best].Arrival)) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		c.jb.Push(c.pending[best])
		c.pending = append(c.pending[:best], c.pending[best+1:]...)
	}
}

func count(frames []Frame, k FrameKind) int {
	n := 0
	for _, f := range frames {
		if f.Kind == k {
			n++
		}
	}
	return n
}

// TestJitterTargetFollowsJitter: the target delay rises under heavy
// jitter, the playout delay follows it up (so few packets are late), and
// both come back down once the path calms.
func TestJitterTargetFollowsJitter(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	c := newJBClock(JitterConfig{}, 1000, 5000)
	calm := func(int) time.Duration {
		return 30*time.Millisecond + time.Duration(rng.Int64N(int64(2*time.Millisecond)))
	}
	rough := func(int) time.Duration {
		return 30*time.Millisecond + time.Duration(rng.Int64N(int64(120*time.Millisecond)))
	}

	c.run(250, calm) // 5 s
	s0 := c.jb.Stats()
	c.run(500, rough) // 10 s
	s1 := c.jb.Stats()
	c.run(500, calm) // 10 s
	s2 := c.jb.Stats()
	t.Logf("calm:  target %v delay %v jitter %v", s0.Target, s0.Delay, s0.Jitter)
	t.Logf("rough: target %v delay %v jitter %v late %d stretched %d", s1.Target, s1.Delay, s1.Jitter, s1.Late-s0.Late, s1.Stretched-s0.Stretched)
	t.Logf("calm:  target %v delay %v jitter %v shrunk %d", s2.Target, s2.Delay, s2.Jitter, s2.Shrunk-s1.Shrunk)

	if s0.Target != DefaultMinDelay {
		t.Errorf("calm target %v, want the floor %v", s0.Target, DefaultMinDelay)
	}
	if s1.Target < 90*time.Millisecond || s1.Target > DefaultMaxDelay {
		t.Errorf("target under 0–120 ms jitter is %v, want 90–200 ms", s1.Target)
	}
	if s1.Delay < s1.Target {
		t.Errorf("playout delay %v below target %v", s1.Delay, s1.Target)
	}
	if late := s1.Late - s0.Late; late > 25 { // 5% of 500
		t.Errorf("%d of 500 packets late under jitter the target should cover", late)
	}
	if s2.Target > 30*time.Millisecond {
		t.Errorf("target %v did not come back down after the path calmed", s2.Target)
	}
	if s2.Delay > s2.Target+shrinkHysteresis {
		t.Errorf("playout delay %v did not come back down to target %v", s2.Delay, s2.Target)
	}
	if s2.Shrunk == s1.Shrunk {
		t.Error("no frame was dropped to shrink the delay")
	}
	if s1.Jitter < 20*time.Millisecond || s2.Jitter > 5*time.Millisecond {
		t.Errorf("RFC 3550 jitter %v under jitter, %v calm: not following", s1.Jitter, s2.Jitter)
	}
	// Every tick got a frame and nothing in the calm stretch was lost.
	if len(c.frames) != 1250 {
		t.Fatalf("%d frames for 1250 ticks", len(c.frames))
	}
	tail := c.frames[len(c.frames)-200:]
	if n := count(tail, FramePacket); n < 195 {
		t.Errorf("only %d of the last 200 calm frames played from packets", n)
	}
}

// TestJitterWrapAround: sequence numbers wrap at 65535 and timestamps at
// 2³², mid-stream, without a hiccup.
func TestJitterWrapAround(t *testing.T) {
	c := newJBClock(JitterConfig{}, 65500, 1<<32-60*FrameSamples)
	c.run(200, func(int) time.Duration { return 10 * time.Millisecond })
	s := c.jb.Stats()
	var seqs []uint16
	for _, f := range c.frames {
		if f.Kind == FramePacket {
			seqs = append(seqs, f.Seq)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("played seq %d after %d", seqs[i], seqs[i-1])
		}
	}
	if len(seqs) < 195 || s.Concealed+s.Late+s.Duplicates+s.Resyncs != 0 {
		t.Errorf("played %d of 200; stats %+v", len(seqs), s)
	}
	if seqs[0] != 65500 || seqs[len(seqs)-1] != uint16(65500+len(seqs)-1) {
		t.Errorf("played %d…%d", seqs[0], seqs[len(seqs)-1])
	}
}

// TestJitterDuplicates: every packet sent twice is played once.
func TestJitterDuplicates(t *testing.T) {
	c := newJBClock(JitterConfig{}, 65530, 0)
	c.run(100, func(i int) time.Duration {
		// Deliver a copy of each packet 35 ms after the original.
		c.pending = append(c.pending, Packet{
			Seq: c.seq0 + uint16(i), Timestamp: c.ts0 + uint32(i*FrameSamples), Payload: []byte{0xfc, 9},
			Arrival: c.start.Add(time.Duration(i)*FrameDuration + 45*time.Millisecond),
		})
		return 10 * time.Millisecond
	})
	c.run(5, func(int) time.Duration { return -1 })
	s := c.jb.Stats()
	if s.Duplicates < 99 {
		t.Errorf("duplicates %d, want ≥ 99", s.Duplicates)
	}
	if n := count(c.frames, FramePacket); n != 100 {
		t.Errorf("played %d packets of 100", n)
	}
	for _, f := range c.frames {
		if f.Kind == FramePacket && len(f.Payload) != 4 {
			t.Fatalf("a duplicate (payload %x) replaced the original", f.Payload)
		}
	}
}

// TestJitterLateAndReordered: a packet that comes long after its slot is
// dropped and counted; packets swapped within the target delay are played
// in order.
func TestJitterLateAndReordered(t *testing.T) {
	c := newJBClock(JitterConfig{}, 100, 0)
	c.run(50, func(i int) time.Duration { return 20 * time.Millisecond })
	c.run(50, func(i int) time.Duration {
		switch i {
		case 60:
			return 500 * time.Millisecond // very late
		case 70:
			return 20*time.Millisecond + FrameDuration // arrives after 71
		}
		return 20 * time.Millisecond
	})
	c.run(50, func(int) time.Duration { return 20 * time.Millisecond })
	s := c.jb.Stats()
	if s.Late != 1 {
		t.Errorf("late %d, want 1", s.Late)
	}
	if s.Concealed != 1 {
		t.Errorf("concealed %d, want 1 (the late packet's slot)", s.Concealed)
	}
	// A late packet is jitter, not loss: the floor stays MinDelay.
	if s.Target != DefaultMinDelay {
		t.Errorf("target %v after a late packet, want %v", s.Target, DefaultMinDelay)
	}
	var seqs []uint16
	for _, f := range c.frames {
		if f.Kind == FramePacket {
			seqs = append(seqs, f.Seq)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("played %d after %d", seqs[i], seqs[i-1])
		}
	}
	if !containsSeq(seqs, 170) || !containsSeq(seqs, 171) || containsSeq(seqs, 160) {
		t.Errorf("reordered pair or late packet mishandled: %v", seqs)
	}
}

func containsSeq(s []uint16, v uint16) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestJitterBurst: a 150 ms stall followed by a burst. The packets stuck
// longer than the playout delay are late; the rest of the burst is
// played in order; the target grows (one stall in 3 s is about 5% of the
// packets, so a 97% target does not cover all of it); playout never
// skips a tick.
func TestJitterBurst(t *testing.T) {
	c := newJBClock(JitterConfig{}, 0, 0)
	c.run(100, func(int) time.Duration { return 20 * time.Millisecond })
	stallEnd := c.start.Add(100*FrameDuration + 150*time.Millisecond)
	c.run(100, func(i int) time.Duration {
		at := c.start.Add(time.Duration(i)*FrameDuration + 20*time.Millisecond)
		if at.Before(stallEnd) {
			return stallEnd.Sub(c.start.Add(time.Duration(i) * FrameDuration))
		}
		return 20 * time.Millisecond
	})
	s := c.jb.Stats()
	t.Logf("burst: late %d concealed %d played %d target %v stretched %d shrunk %d", s.Late, s.Concealed, s.Played, s.Target, s.Stretched, s.Shrunk)
	if len(c.frames) != 200 {
		t.Fatalf("%d frames for 200 ticks", len(c.frames))
	}
	if s.Late == 0 || s.Late > 8 {
		t.Errorf("late %d, want a few (the packets stuck longest)", s.Late)
	}
	if s.Target < 40*time.Millisecond {
		t.Errorf("target %v after a 150 ms stall", s.Target)
	}
	if got := s.Played + s.Late + s.Shrunk + uint64(len(c.jb.buf)+len(c.pending)); got != 200 {
		t.Errorf("packets went missing: played %d + late %d + shrunk %d + buffered %d + in flight %d = %d of 200", s.Played, s.Late, s.Shrunk, len(c.jb.buf), len(c.pending), got)
	}
	var last uint16
	for _, f := range c.frames {
		if f.Kind == FramePacket {
			if f.Seq < last {
				t.Fatalf("played %d after %d", f.Seq, last)
			}
			last = f.Seq
		}
	}
}

// TestJitterFECAndDTX: a lost packet whose successor carries FEC data is
// recovered from it; a gap in timestamps with no gap in sequence numbers
// is DTX, not loss.
func TestJitterFECAndDTX(t *testing.T) {
	enc, err := NewEncoder(EncoderConfig{ExpectedLoss: 10})
	if err != nil {
		t.Fatal(err)
	}
	tone := NewToneSource(440, 0.5)
	pcm := make([]int16, FrameSamples)
	var pkts [][]byte
	for range 60 {
		tone.ReadFrame(pcm)
		p, err := enc.Encode(nil, pcm)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, p)
	}
	// Lose two packets whose successors carry FEC data. On a calm path
	// the target is below a frame, so the first loss is concealed (the
	// next packet is not there yet); the target then rises to a frame
	// (LossDelay) and the second is recovered.
	hasFEC := func(from int) int {
		for i := from; i < 58; i++ {
			if PacketHasFEC(pkts[i+1]) {
				return i
			}
		}
		return -1
	}
	lost := hasFEC(15)
	lost2 := hasFEC(lost + 10)
	if lost < 0 || lost2 < 0 {
		t.Fatal("encoder told to expect 10% loss made too few packets with FEC")
	}
	c := newJBClock(JitterConfig{}, 10, 0)
	c.payload = func(i int) []byte { return pkts[i%len(pkts)] }
	c.run(60, func(i int) time.Duration {
		if i == lost || i == lost2 {
			return -1
		}
		return 10 * time.Millisecond
	})
	var fec, first *Frame
	for i := range c.frames {
		switch f := &c.frames[i]; {
		case f.Kind == FrameFEC:
			fec = f
		case f.Kind == FrameConceal && int(f.Timestamp) == lost*FrameSamples:
			first = f
		}
	}
	if first == nil {
		t.Errorf("the first loss (packet %d), at a target of %v, was not concealed", lost, DefaultMinDelay)
	}
	if fec == nil || int(fec.Seq) != 10+lost2+1 || int(fec.Timestamp) != lost2*FrameSamples {
		t.Fatalf("lost packet %d not recovered from the next one's FEC: %+v", lost2, fec)
	}
	if s := c.jb.Stats(); s.Target != DefaultLossDelay {
		t.Errorf("target %v after losses, want the loss floor %v", s.Target, DefaultLossDelay)
	}

	// DTX: seq keeps counting, timestamps jump by 10 frames.
	jb := NewJitterBuffer(JitterConfig{})
	start := time.Unix(1_700_000_000, 0)
	var frames []Frame
	for k := range 60 {
		now := start.Add(time.Duration(k)*FrameDuration + 5*time.Millisecond)
		i := k // frame index in time
		if i < 20 || i >= 30 {
			seq := i
			if i >= 30 {
				seq = i - 10
			}
			payload := []byte{0xfc, 1, 2}
			if i == 19 {
				payload = []byte{0xfc} // the DTX packet
			}
			jb.Push(Packet{Seq: uint16(seq), Timestamp: uint32(i * FrameSamples), Payload: payload, Arrival: start.Add(time.Duration(i)*FrameDuration + 10*time.Millisecond)})
		}
		frames = append(frames, jb.Pop(now))
	}
	s := jb.Stats()
	if s.DTX < 9 || s.Concealed != 0 {
		t.Errorf("DTX %d concealed %d; want the 10-frame gap played as DTX", s.DTX, s.Concealed)
	}
}

// TestJitterResync: a sender whose timestamps jump far ahead or back (a
// restarted stream) is followed after a resync instead of being dropped
// as late forever.
func TestJitterResync(t *testing.T) {
	c := newJBClock(JitterConfig{}, 0, 1<<20)
	c.run(50, func(int) time.Duration { return 10 * time.Millisecond })
	c.ts0 -= 10 * SampleRate // timestamps jump 10 s back
	c.run(100, func(int) time.Duration { return 10 * time.Millisecond })
	s := c.jb.Stats()
	if s.Resyncs != 1 {
		t.Fatalf("resyncs %d, want 1", s.Resyncs)
	}
	tail := c.frames[len(c.frames)-50:]
	if n := count(tail, FramePacket); n < 49 {
		t.Errorf("after the jump back only %d of 50 frames played", n)
	}
	c.ts0 += 100 * SampleRate // and 100 s ahead
	c.run(100, func(int) time.Duration { return 10 * time.Millisecond })
	s = c.jb.Stats()
	tail = c.frames[len(c.frames)-50:]
	if s.Resyncs != 2 || count(tail, FramePacket) < 49 {
		t.Errorf("after the jump ahead: resyncs %d, played %d of the last 50", s.Resyncs, count(tail, FramePacket))
	}
}

// TestJitterIdleAndRestart: a sender that goes quiet for 2 s (call on
// hold, or DTX without DTX packets) is concealed briefly, then played as
// silence rather than counted as 100 lost frames, and picked up again
// when it resumes, whether its timestamps jumped over the pause or not.
func TestJitterIdleAndRestart(t *testing.T) {
	for _, jump := range []bool{true, false} {
		c := newJBClock(JitterConfig{}, 500, 0)
		c.run(100, func(int) time.Duration { return 10 * time.Millisecond })
		c.run(100, func(int) time.Duration { return -1 }) // nothing sent
		if !jump {
			c.ts0 -= 100 * FrameSamples // the sender's clock paused too
		}
		c.seq0 -= 100 // sequence numbers go on where they stopped
		c.run(100, func(int) time.Duration { return 10 * time.Millisecond })
		s := c.jb.Stats()
		pause := c.frames[100:200]
		t.Logf("jump=%v: concealed %d silence %d played %d late %d resyncs %d", jump, s.Concealed+s.DTX, count(pause, FrameSilence), s.Played, s.Late, s.Resyncs)
		if s.Concealed+s.DTX > uint64(idleAfter/FrameDuration)+2 {
			t.Errorf("jump=%v: %d frames concealed during a 2 s pause, want about %d then silence", jump, s.Concealed+s.DTX, idleAfter/FrameDuration)
		}
		if n := count(pause, FrameSilence); n < 70 {
			t.Errorf("jump=%v: %d of 100 paused slots silent", jump, n)
		}
		if s.Played < 198 || s.Late != 0 {
			t.Errorf("jump=%v: played %d of 200, late %d", jump, s.Played, s.Late)
		}
	}
}

// TestJitterDue: Due gives when the next slot is due at the target
// delay, while priming and while playing, whenever the last slot was
// played: after a late pop and after a stretch the playout clock is told
// to come back to the target rather than keep the extra delay.
func TestJitterDue(t *testing.T) {
	jb := NewJitterBuffer(JitterConfig{})
	t0 := time.Unix(1_700_000_000, 0)
	push := func(i int) {
		jb.Push(Packet{Seq: uint16(i), Timestamp: uint32(i * FrameSamples), Payload: []byte{0xfc, 1, 2, 3}, Arrival: t0.Add(time.Duration(i) * FrameDuration)})
	}
	slot := func(i int) time.Time { return t0.Add(time.Duration(i)*FrameDuration + DefaultMinDelay) }
	if _, ok := jb.Due(t0); ok {
		t.Fatal("due with nothing buffered")
	}
	push(0)
	if due, ok := jb.Due(t0); !ok || !due.Equal(slot(0)) {
		t.Fatalf("priming: due %v %v, want %v", due, ok, slot(0))
	}
	if f := jb.Pop(slot(0)); f.Kind != FramePacket {
		t.Fatalf("slot 0: %v", f.Kind)
	}
	for i := 1; i <= 3; i++ {
		push(i)
	}
	if due, ok := jb.Due(slot(0)); !ok || !due.Equal(slot(1)) {
		t.Fatalf("playing: due %v %v, want %v", due, ok, slot(1))
	}
	// Slot 1 is played 15 ms late: slot 2 is still due on time, 5 ms on.
	late := slot(1).Add(15 * time.Millisecond)
	if f := jb.Pop(late); f.Kind != FramePacket {
		t.Fatalf("slot 1: %v", f.Kind)
	}
	if due, ok := jb.Due(late); !ok || !due.Equal(slot(2)) {
		t.Fatalf("after a late pop: due %v %v, want %v", due, ok, slot(2))
	}
	// A pop 3 ms early is a stretch; slot 2 stays due when it was.
	if f := jb.Pop(slot(2).Add(-3 * time.Millisecond)); f.Kind != FrameStretch {
		t.Fatalf("early pop: %v", f.Kind)
	}
	if due, ok := jb.Due(slot(2)); !ok || !due.Equal(slot(2)) {
		t.Fatalf("after a stretch: due %v %v, want %v", due, ok, slot(2))
	}
}
