package audio

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// memSink keeps every frame written to it.
type memSink struct {
	pcm    []int16
	frames int
	closed bool
}

func (m *memSink) WriteFrame(pcm []int16) error {
	if err := checkFrame(pcm); err != nil {
		return err
	}
	m.pcm = append(m.pcm, pcm...)
	m.frames++
	return nil
}

func (m *memSink) Close() error { m.closed = true; return nil }

// sineFit fits a·sin + b·cos at freq to x by least squares and returns
// the fitted sine's power and the residual power (sums over x).
func sineFit(x []int16, freq float64) (sig, res float64) {
	var ss, sc, cc, sy, cy float64
	for i, v := range x {
		w := 2 * math.Pi * freq * float64(i) / SampleRate
		s, c := math.Sin(w), math.Cos(w)
		ss += s * s
		sc += s * c
		cc += c * c
		sy += s * float64(v)
		cy += c * float64(v)
	}
	det := ss*cc - sc*sc
	a := (sy*cc - cy*sc) / det
	b := (cy*ss - sy*sc) / det
	for i, v := range x {
		w := 2 * math.Pi * freq * float64(i) / SampleRate
		f := a*math.Sin(w) + b*math.Cos(w)
		sig += f * f
		d := float64(v) - f
		res += d * d
	}
	return sig, res
}

// snr is the signal-to-noise ratio in dB of x against the best-fitting
// freq sine (amplitude and phase fitted, which also aligns for codec
// delay).
func snr(x []int16, freq float64) float64 {
	sig, res := sineFit(x, freq)
	return 10 * math.Log10(sig/res)
}

// blockSNR fits the sine separately in each 20 ms block, so that phase
// jumps where the jitter buffer inserted or dropped a frame do not count
// as noise, while everything else (codec noise, concealment, gaps) does.
func blockSNR(x []int16, freq float64) float64 {
	var sig, res float64
	for len(x) >= FrameSamples {
		s, r := sineFit(x[:FrameSamples], freq)
		sig += s
		res += r
		x = x[FrameSamples:]
	}
	return 10 * math.Log10(sig/res)
}

// goertzel returns the power of x at freq.
func goertzel(x []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / SampleRate
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - coeff*s1*s2
}

// peakFreq returns the frequency in [lo, hi] (1 Hz steps) where x (its
// first 2 s at most) has the most power.
func peakFreq(x []int16, lo, hi float64) float64 {
	x = x[:min(len(x), 2*SampleRate)]
	best, bestP := lo, -1.0
	for f := lo; f <= hi; f++ {
		if p := goertzel(x, f); p > bestP {
			best, bestP = f, p
		}
	}
	return best
}

// netModel is the network between Sender and Receiver in the end-to-end
// tests: a fixed delay plus uniform random jitter (which reorders packets
// when it exceeds 20 ms), random loss, and optional extra reordering.
type netModel struct {
	delay   time.Duration
	jitter  time.Duration // each packet gets rand[0, jitter) extra
	loss    float64       // probability a packet is lost
	reorder float64       // probability a packet is held back 2 frames more
	seed    uint64
	// mediaClock: the playout clock ticks as Media's does — every 20 ms,
	// or sooner when the jitter buffer's next slot is due (Receiver.Due,
	// asked after each tick and each packet) — instead of every 20 ms 7 ms
	// out of phase with the sender's.
	mediaClock bool
}

type simResult struct {
	out     []int16
	ticks   int
	frames  int // frames the sink got
	sent    int
	lost    int
	stats   ReceiverStats
	bytes   int
	primeAt int // sample index where the first non-silent output starts
}

// simulate plays a 440 Hz tone through Sender → net → Receiver → memSink
// in fake time for n frames, plus time to drain, and returns what came
// out. The sender keeps going while the receiver drains, so that the end
// of the run is not a stream that stopped. The playout clock ticks every
// 20 ms, 7 ms out of phase with the sender's.
func simulate(t testing.TB, n int, net netModel, enc EncoderConfig, jc JitterConfig) simResult {
	t.Helper()
	rng := rand.New(rand.NewPCG(net.seed, 42))
	snd, err := NewSender(NewToneSource(440, 0.5), enc)
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	rcv, err := NewReceiver(sink, jc)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	type inflight struct {
		seq     uint16
		ts      uint32
		payload []byte
		at      time.Time
	}
	var res simResult
	var pkts []inflight
	seq0, ts0 := uint16(rng.Uint32()), rng.Uint32()
	res.ticks = n + int((net.delay+net.jitter+300*time.Millisecond)/FrameDuration)
	for i := 0; i < res.ticks; i++ {
		p, err := snd.NextPacket()
		if err != nil {
			t.Fatal(err)
		}
		res.sent++
		res.bytes += len(p)
		if rng.Float64() < net.loss {
			res.lost++
			continue
		}
		d := net.delay
		if net.jitter > 0 {
			d += time.Duration(rng.Int64N(int64(net.jitter)))
		}
		if rng.Float64() < net.reorder {
			d += 2 * FrameDuration
		}
		pkts = append(pkts, inflight{
			seq: seq0 + uint16(i), ts: ts0 + uint32(i*FrameSamples), payload: p,
			at: start.Add(time.Duration(i)*FrameDuration + d),
		})
	}
	slices.SortStableFunc(pkts, func(a, b inflight) int { return a.at.Compare(b.at) })
	next := 0
	tick := start.Add(7 * time.Millisecond)
	var last time.Time
	for k := 0; k < res.ticks; k++ {
		now := start.Add(time.Duration(k)*FrameDuration + 7*time.Millisecond)
		if net.mediaClock {
			now = tick
		}
		for next < len(pkts) && !pkts[next].at.After(now) {
			p := pkts[next]
			rcv.Push(p.seq, p.ts, p.payload, p.at)
			next++
			if due, ok := rcv.Due(p.at); net.mediaClock && ok && due.Before(now) {
				now = latest(latest(due, p.at), last.Add(minTickGap))
			}
		}
		tick = now.Add(FrameDuration)
		last = now
		if err := rcv.Tick(now); err != nil {
			t.Fatal(err)
		}
		if due, ok := rcv.Due(now); net.mediaClock && ok && due.Before(tick) {
			tick = latest(due, now.Add(minTickGap))
		}
	}
	res.out = sink.pcm
	res.frames = sink.frames
	res.stats = rcv.Stats()
	res.primeAt = slices.IndexFunc(res.out, func(v int16) bool { return v != 0 })
	return res
}
