package audio

import (
	"slices"
	"time"
)

// Jitter buffer defaults.
const (
	// DefaultMinDelay is the lowest target delay on a path that loses
	// nothing: a margin for the scheduling noise of both ends (a
	// millisecond or two on a loaded machine) that the jitter measured
	// over a calm path does not show at once.
	DefaultMinDelay = 5 * time.Millisecond
	// DefaultLossDelay is what the target adds to the quantile while
	// packets are being lost (any in the last Window), and its floor
	// then: one frame, what it takes for the packet after a lost one to
	// be there in time for its FEC data to recover it. The first loss
	// after a calm spell is concealed; the target then rises by a frame.
	DefaultLossDelay = FrameDuration
	// DefaultMaxDelay is the highest target delay.
	DefaultMaxDelay = 200 * time.Millisecond
	// DefaultQuantile is the share of packets that should arrive in time.
	DefaultQuantile = 0.97
	// DefaultWindow is how much recent history the target delay follows.
	DefaultWindow = 3 * time.Second

	// shrinkHysteresis: the playout delay is cut by dropping a frame only
	// once it is this much above the target (it is raised as soon as it
	// falls below), so that it settles in [target, target+hysteresis).
	// It must exceed a frame, or a drop would take the delay below the
	// target and the next slot would be stretched again; 5 ms above a
	// frame leaves room for a little jitter.
	shrinkHysteresis = 25 * time.Millisecond
	// followCap: while playing, Due puts the next slot above the target
	// by the RFC 3550 interarrival jitter, at most followCap, rather than
	// at the target itself: a playout clock kept exactly at the target
	// would stretch by a frame each time the quantile crept up by a
	// fraction of a millisecond, which under jitter it does all the
	// time. On a calm path the interarrival jitter is a fraction of a
	// millisecond, and after a one-off late packet it decays within a
	// second.
	followCap = FrameDuration
	// shrinkEvery: at most one frame is dropped per this many frames.
	shrinkEvery = 5
	// maxBuffered bounds the packets held (5 s of audio).
	maxBuffered = 250
	// seenSize is how many recent sequence numbers duplicate detection
	// remembers.
	seenSize = 512
	// resyncLag and resyncRun: after resyncRun packets in a row that are
	// more than resyncLag behind the playout point, the sender's clock is
	// taken to have jumped back and playout restarts from them. A packet
	// more than maxLead ahead of the playout point restarts it at once.
	resyncLag = 2 * time.Second
	resyncRun = 10
	maxLead   = 2 * time.Second
	// idleAfter: with nothing buffered and no packet for this long after
	// the playout point ran dry, the buffer goes idle (silence, not
	// concealment) and primes again on the next packet.
	idleAfter = 400 * time.Millisecond
)

// JitterConfig sets up a JitterBuffer. Zero fields take the defaults.
type JitterConfig struct {
	// MinDelay and MaxDelay bound the target delay (DefaultMinDelay,
	// DefaultMaxDelay).
	MinDelay, MaxDelay time.Duration
	// LossDelay is added to the quantile, and is the lowest target,
	// while packets are being lost (DefaultLossDelay; it is never below
	// MinDelay).
	LossDelay time.Duration
	// Quantile of recent packets' extra delay that the target covers
	// (DefaultQuantile).
	Quantile float64
	// Window is the span of recent packets the target is computed over
	// (DefaultWindow).
	Window time.Duration
}

func (c *JitterConfig) fill() {
	if c.MinDelay <= 0 {
		c.MinDelay = DefaultMinDelay
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.MaxDelay < c.MinDelay {
		c.MaxDelay = c.MinDelay
	}
	if c.LossDelay <= 0 {
		c.LossDelay = DefaultLossDelay
	}
	c.LossDelay = min(max(c.LossDelay, c.MinDelay), c.MaxDelay)
	if c.Quantile <= 0 || c.Quantile > 1 {
		c.Quantile = DefaultQuantile
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
}

// Packet is one received RTP packet of Opus audio.
type Packet struct {
	Seq       uint16    // RTP sequence number
	Timestamp uint32    // RTP timestamp (48 kHz clock)
	Payload   []byte    // one Opus packet of 20 ms
	Arrival   time.Time // when it was received, on the playout clock
}

// FrameKind says what to do for one 20 ms playout slot.
type FrameKind uint8

// Frame kinds. Conceal, DTX and Stretch are all played by concealment
// (Decoder.Conceal, which also makes comfort noise after a DTX packet);
// they differ in what they count as.
const (
	// FrameSilence: nothing to play (buffer priming or idle): play zeros
	// and leave the decoder alone.
	FrameSilence FrameKind = iota
	// FramePacket: decode Payload.
	FramePacket
	// FrameFEC: the packet for this slot is lost but the next one, in
	// Payload, is here and carries FEC data: DecodeFEC(Payload).
	FrameFEC
	// FrameConceal: the packet for this slot is lost or late: conceal.
	FrameConceal
	// FrameDTX: the sender sent nothing for this slot (discontinuous
	// transmission): conceal, which plays comfort noise.
	FrameDTX
	// FrameStretch: a slot inserted to raise the playout delay towards
	// the target: conceal without consuming a packet.
	FrameStretch
)

var frameKindNames = [...]string{"silence", "packet", "fec", "conceal", "dtx", "stretch"}

func (k FrameKind) String() string {
	if int(k) < len(frameKindNames) {
		return frameKindNames[k]
	}
	return "unknown"
}

// Frame is what the playout clock gets from the jitter buffer for one
// 20 ms slot.
type Frame struct {
	Kind FrameKind
	// Timestamp is the RTP timestamp of the slot.
	Timestamp uint32
	// Seq and Payload are those of the packet to decode (FramePacket) or
	// of the next packet whose FEC data recovers this slot (FrameFEC).
	Seq     uint16
	Payload []byte
}

// JitterStats counts what a JitterBuffer has seen and done.
type JitterStats struct {
	Received   uint64 // packets pushed, including late ones and duplicates
	Late       uint64 // packets that came after their slot was played, dropped
	Duplicates uint64 // packets seen before, dropped
	Played     uint64 // slots played from their own packet
	Recovered  uint64 // slots recovered from the next packet's FEC data
	Concealed  uint64 // slots lost (or late) and concealed
	DTX        uint64 // slots the sender sent nothing for
	Stretched  uint64 // slots inserted to raise the delay
	Shrunk     uint64 // slots dropped to lower the delay
	Resyncs    uint64 // restarts after the sender's timestamps jumped

	// Target is the playout delay aimed at: the Quantile of recent
	// packets' delay above the fastest one's (plus LossDelay while
	// packets are being lost), between MinDelay (LossDelay while packets
	// are being lost) and MaxDelay.
	Target time.Duration
	// Delay is the current playout delay on the same scale: how long
	// after a packet that took the fastest recent path would have arrived
	// its slot is played.
	Delay time.Duration
	// Jitter is the RFC 3550 interarrival jitter estimate.
	Jitter time.Duration
	// Buffered is the number of packets waiting.
	Buffered int
}

// entry is a buffered packet with its extended sequence number and
// timestamp.
type entry struct {
	seq, ts int64
	pkt     Packet
}

// JitterBuffer reorders received audio packets and hands the playout
// clock one Frame per 20 ms, holding packets back by a target delay that
// follows the measured jitter.
//
// Playout is driven by timestamps: each Pop plays the slot at the playout
// point and moves it on by 20 ms, so a stretch of timestamps with no
// packets (the sender in DTX) is played as DTX, not loss. Sequence
// numbers order packets, find duplicates and tell loss from DTX. Both are
// extended past their wrap-around.
//
// Delay is measured per packet as arrival time minus send time (its
// timestamp); the smallest over the window is the fastest path, and a
// packet's extra delay is its delay above that. The target is the
// Quantile of recent extra delays, clamped to [MinDelay, MaxDelay]; it
// rises at once when jitter grows and comes back down as the jittery
// packets leave the window. While packets are being lost it is a frame
// more (LossDelay), so that FEC has the next packet in time, and at
// least a frame; on a calm, lossless path it is MinDelay (a few
// milliseconds). The playout point is kept at target delay by inserting
// a concealed slot when below it and dropping one slot (at most one per
// 100 ms) when 25 ms or more above it. In between, a playout clock that
// ticks when Due says keeps it just above the target (by the
// interarrival jitter, at most a frame).
//
// A JitterBuffer is not safe for concurrent use; Receiver wraps it with
// a lock.
type JitterBuffer struct {
	cfg     JitterConfig
	histLen int

	buf []entry // waiting packets, by timestamp then sequence

	// Sequence and timestamp extension: the highest seen so far.
	haveSeq  bool
	highSeq  int64
	highTS   int64
	seen     [seenSize]int64 // extended seq+1 of recent packets, by seq%seenSize
	lastSeq  int64           // extended seq of the last packet played (or inferred lost)
	floorSeq int64           // priming never goes back to this seq or before
	lastDTX  bool            // the last packet played was a DTX packet
	lateRun  int             // packets in a row more than resyncLag late
	lastRecv time.Time       // arrival of the newest packet

	// Delay measurement, relative to the epoch set when priming.
	epoch   time.Time
	ts0     int64
	hist    []time.Duration // recent relative delays, ring
	histPos int
	scratch []time.Duration
	dirty   bool
	base    time.Duration // min of hist
	quant   time.Duration // the Quantile of hist, above base
	target  time.Duration // quant within the floor and MaxDelay

	// losses: the slots of the last Window whose packet was missing
	// (concealed or recovered by FEC), while any is, the floor is
	// LossDelay. A packet that turns up late takes its slot off: it was
	// jitter, which the quantile covers, not loss.
	losses  []lossMark
	lastPop time.Time

	// RFC 3550 jitter.
	prevRel  time.Duration
	havePrev bool
	jitter   float64 // nanoseconds

	// Playout.
	started   bool
	nextTS    int64 // extended timestamp of the next slot
	sinceDrop int   // slots since the last drop
	curDelay  time.Duration

	stats JitterStats
}

// NewJitterBuffer returns an empty buffer set up by cfg.
func NewJitterBuffer(cfg JitterConfig) *JitterBuffer {
	cfg.fill()
	n := int(cfg.Window / FrameDuration)
	if n < 10 {
		n = 10
	}
	return &JitterBuffer{
		cfg:       cfg,
		histLen:   n,
		target:    cfg.MinDelay,
		sinceDrop: shrinkEvery,
	}
}

// tsDur converts a timestamp difference to a duration.
func tsDur(d int64) time.Duration { return time.Duration(d * 62500 / 3) } // 1e9/48000 ns

// durTS converts a duration to timestamp units.
func durTS(d time.Duration) int64 { return int64(d) * 3 / 62500 }

const frameTS = int64(FrameSamples)

// Push adds a received packet. It copies the payload, so the caller may
// reuse p.Payload.
func (j *JitterBuffer) Push(p Packet) {
	j.stats.Received++
	seq, ts := j.extend(p.Seq, p.Timestamp)
	slot := &j.seen[uint64(seq)%seenSize]
	if *slot == seq+1 {
		j.stats.Duplicates++
		return
	}
	*slot = seq + 1
	if p.Arrival.After(j.lastRecv) {
		j.lastRecv = p.Arrival
	}

	if j.started {
		switch lag := j.nextTS - ts; {
		case lag > 0:
			// Its slot has been played.
			if tsDur(lag) > resyncLag {
				j.lateRun++
				if j.lateRun >= resyncRun {
					j.resync(seq, ts, p)
					return
				}
			} else {
				j.lateRun = 0
			}
			j.stats.Late++
			j.late(ts)
			j.measure(ts, p.Arrival)
			return
		case tsDur(-lag) > maxLead+j.cfg.MaxDelay:
			j.resync(seq, ts, p)
			return
		}
		j.lateRun = 0
	} else if j.epoch.IsZero() {
		j.prime(seq, ts, p.Arrival)
	} else if ts < j.nextTS {
		// Still priming and an earlier packet came: start from it.
		if j.nextTS-ts < durTS(j.cfg.MaxDelay) && seq > j.floorSeq {
			j.nextTS = ts
			j.lastSeq = min(j.lastSeq, seq-1)
		} else {
			j.stats.Late++
			return
		}
	}
	j.measure(ts, p.Arrival)
	j.insert(entry{seq: seq, ts: ts, pkt: Packet{
		Seq: p.Seq, Timestamp: p.Timestamp, Arrival: p.Arrival,
		Payload: append([]byte(nil), p.Payload...),
	}})
}

// extend returns the extended sequence number and timestamp of a packet.
func (j *JitterBuffer) extend(seq uint16, ts uint32) (int64, int64) {
	if !j.haveSeq {
		j.haveSeq = true
		// Start high enough that packets from before the first one seen
		// stay positive.
		j.highSeq = 1<<20 + int64(seq)
		j.highTS = 1<<40 + int64(ts)
		return j.highSeq, j.highTS
	}
	es := j.highSeq + int64(int16(seq-uint16(j.highSeq)))
	et := j.highTS + int64(int32(ts-uint32(j.highTS)))
	if es > j.highSeq {
		j.highSeq = es
	}
	if et > j.highTS {
		j.highTS = et
	}
	return es, et
}

// prime sets up playout from a first packet (at start, or after idling
// or a resync).
func (j *JitterBuffer) prime(seq, ts int64, arrival time.Time) {
	if j.lastSeq != 0 {
		j.floorSeq = j.lastSeq
	}
	j.epoch = arrival
	j.ts0 = ts
	j.nextTS = ts
	j.lastSeq = seq - 1
	j.lastDTX = false
	j.hist = j.hist[:0]
	j.histPos = 0
	j.havePrev = false
	j.dirty = true
	j.started = false
}

// resync drops everything and primes again from p.
func (j *JitterBuffer) resync(seq, ts int64, p Packet) {
	j.stats.Resyncs++
	j.buf = j.buf[:0]
	j.lateRun = 0
	j.prime(seq, ts, p.Arrival)
	j.measure(ts, p.Arrival)
	j.insert(entry{seq: seq, ts: ts, pkt: Packet{
		Seq: p.Seq, Timestamp: p.Timestamp, Arrival: p.Arrival,
		Payload: append([]byte(nil), p.Payload...),
	}})
}

// measure records a packet's delay relative to the epoch.
func (j *JitterBuffer) measure(ts int64, arrival time.Time) {
	rel := arrival.Sub(j.epoch) - tsDur(ts-j.ts0)
	if len(j.hist) < j.histLen {
		j.hist = append(j.hist, rel)
	} else {
		j.hist[j.histPos] = rel
		j.histPos = (j.histPos + 1) % j.histLen
	}
	j.dirty = true
	// RFC 3550 §6.4.1: J += (|D(i-1,i)| - J)/16, in arrival order.
	if j.havePrev {
		d := float64(rel - j.prevRel)
		if d < 0 {
			d = -d
		}
		j.jitter += (d - j.jitter) / 16
	}
	j.prevRel, j.havePrev = rel, true
}

// insert puts e into the buffer in timestamp order.
func (j *JitterBuffer) insert(e entry) {
	i, _ := slices.BinarySearchFunc(j.buf, e, func(a, b entry) int {
		if a.ts != b.ts {
			return cmpInt(a.ts, b.ts)
		}
		return cmpInt(a.seq, b.seq)
	})
	j.buf = slices.Insert(j.buf, i, e)
	if len(j.buf) > maxBuffered {
		j.buf = slices.Delete(j.buf, 0, len(j.buf)-maxBuffered)
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// update recomputes the base delay and the target from the history.
func (j *JitterBuffer) update() {
	if !j.dirty || len(j.hist) == 0 {
		return
	}
	j.dirty = false
	j.scratch = append(j.scratch[:0], j.hist...)
	slices.Sort(j.scratch)
	j.base = j.scratch[0]
	i := int(j.cfg.Quantile*float64(len(j.scratch)-1) + 0.5)
	j.quant = j.scratch[i] - j.base
}

// setTarget sets the target from the quantile and the floor at now.
func (j *JitterBuffer) setTarget(now time.Time) {
	floor, q := j.cfg.MinDelay, j.quant
	if j.losing(now) {
		// FEC needs the packet after a lost one, a frame later.
		floor, q = j.cfg.LossDelay, q+j.cfg.LossDelay
	}
	j.target = min(max(q, floor), j.cfg.MaxDelay)
}

// lossMark is a slot whose packet was missing when it was played.
type lossMark struct {
	ts int64
	at time.Time
}

// lost notes that the packet of slot ts is missing at now: the floor is
// LossDelay for the next Window, unless the packet turns up late.
func (j *JitterBuffer) lost(now time.Time, ts int64) {
	j.losing(now)
	j.losses = append(j.losses, lossMark{ts: ts, at: now})
}

// losing drops the marks older than a Window and reports whether any
// are left.
func (j *JitterBuffer) losing(now time.Time) bool {
	i := 0
	for i < len(j.losses) && now.Sub(j.losses[i].at) >= j.cfg.Window {
		i++
	}
	j.losses = j.losses[i:]
	return len(j.losses) > 0
}

// late takes slot ts off the losses: its packet came, only too late.
func (j *JitterBuffer) late(ts int64) {
	j.losses = slices.DeleteFunc(j.losses, func(m lossMark) bool { return m.ts == ts })
}

// Due returns when the next slot is due to be played, so that the
// playout clock can tick then: while the buffer primes, when its first
// packet is due at the target delay, rather than up to 20 ms later;
// while it plays, when the next slot is at the target delay plus the
// interarrival jitter (at most a frame more), so that the clock comes
// back down after a late tick or a stretch instead of staying above it
// for the rest of the talk spurt (the playback queue then trims what it
// got early). It returns false when the buffer is idle or, priming, has
// no packet.
func (j *JitterBuffer) Due(now time.Time) (time.Time, bool) {
	if j.epoch.IsZero() || !j.started && len(j.buf) == 0 {
		return time.Time{}, false
	}
	j.update()
	j.setTarget(now)
	at := j.target
	if j.started {
		at += min(time.Duration(j.jitter), followCap)
	}
	return j.epoch.Add(tsDur(j.nextTS-j.ts0) + j.base + at), true
}

// delay returns the playout delay of the next slot if played at now.
func (j *JitterBuffer) delay(now time.Time) time.Duration {
	return now.Sub(j.epoch) - tsDur(j.nextTS-j.ts0) - j.base
}

// Pop returns what to play for the slot due at now. The playout clock
// calls it once every 20 ms.
func (j *JitterBuffer) Pop(now time.Time) Frame {
	j.update()
	j.setTarget(now)
	j.lastPop = now
	if j.epoch.IsZero() {
		return Frame{Kind: FrameSilence}
	}
	if !j.started {
		if len(j.buf) == 0 || j.delay(now) < j.target {
			return Frame{Kind: FrameSilence, Timestamp: uint32(j.nextTS)}
		}
		j.started = true
	}
	// Drop what is now too late to play.
	for len(j.buf) > 0 && j.buf[0].ts <= j.nextTS-frameTS/2 {
		j.stats.Late++
		j.buf = j.buf[1:]
	}
	if len(j.buf) == 0 && now.Sub(j.lastRecv) > idleAfter {
		// The sender went quiet: stop concealing, prime again later.
		j.epoch = time.Time{}
		j.started = false
		return Frame{Kind: FrameSilence}
	}

	j.sinceDrop++
	d := j.delay(now)
	j.curDelay = d
	if d < j.target {
		j.stats.Stretched++
		return Frame{Kind: FrameStretch, Timestamp: uint32(j.nextTS)}
	}
	if d >= j.target+shrinkHysteresis && j.sinceDrop >= shrinkEvery {
		j.sinceDrop = 0
		j.stats.Shrunk++
		if len(j.buf) > 0 && j.buf[0].ts < j.nextTS+frameTS/2 {
			j.lastSeq = j.buf[0].seq
			j.buf = j.buf[1:]
		}
		j.nextTS += frameTS
		j.curDelay -= FrameDuration
	}

	slot := j.nextTS
	j.nextTS += frameTS
	if len(j.buf) > 0 {
		e := j.buf[0]
		if e.ts < slot+frameTS/2 {
			// Its own packet is here.
			j.buf = j.buf[1:]
			j.lastSeq = e.seq
			j.lastDTX = IsDTX(e.pkt.Payload)
			j.stats.Played++
			return Frame{Kind: FramePacket, Timestamp: uint32(slot), Seq: e.pkt.Seq, Payload: e.pkt.Payload}
		}
		if e.seq == j.lastSeq+1 {
			// The next packet follows the last one played, only later in
			// time: the sender skipped this slot (DTX).
			j.stats.DTX++
			return Frame{Kind: FrameDTX, Timestamp: uint32(slot)}
		}
		// A packet is missing. If the slot is the one right before e,
		// this slot's packet is e.seq-1; count it as consumed.
		if e.ts < slot+frameTS+frameTS/2 {
			j.lastSeq = e.seq - 1
			j.lost(now, slot)
			if PacketHasFEC(e.pkt.Payload) {
				j.stats.Recovered++
				return Frame{Kind: FrameFEC, Timestamp: uint32(slot), Seq: e.pkt.Seq, Payload: e.pkt.Payload}
			}
		} else if n := (e.ts - slot) / frameTS; e.seq-n > j.lastSeq {
			j.lastSeq = e.seq - n
		}
		j.lost(now, slot)
		j.stats.Concealed++
		return Frame{Kind: FrameConceal, Timestamp: uint32(slot)}
	}
	// Nothing buffered.
	if j.lastDTX {
		j.stats.DTX++
		return Frame{Kind: FrameDTX, Timestamp: uint32(slot)}
	}
	j.lost(now, slot)
	j.stats.Concealed++
	return Frame{Kind: FrameConceal, Timestamp: uint32(slot)}
}

// Stats returns the counters and the current target and delay (as of
// the last Pop).
func (j *JitterBuffer) Stats() JitterStats {
	j.update()
	j.setTarget(j.lastPop)
	s := j.stats
	s.Target = j.target
	if !j.epoch.IsZero() {
		s.Delay = j.curDelay
	}
	s.Jitter = time.Duration(j.jitter)
	s.Buffered = len(j.buf)
	return s
}
