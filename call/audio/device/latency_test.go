package device

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/parleynet/parley/call"
	"github.com/parleynet/parley/call/audio"
)

// BenchmarkCallLatency measures the one-way delay of our own audio
// pipeline, from the microphone's sound card to the speaker's, in real
// time and without a network. Each iteration is one call of callLength:
//
//   - Measured, our code: the real Capture queue (fed through onData, as
//     miniaudio's callback would), the Sender (Opus encode), RTP packets
//     marshalled and parsed with pion/rtp as rtc does, handed to
//     the RTP reader goroutine through a channel (no network), the real
//     Receiver and playout clock (audio.Media, with its jitter buffer and
//     Opus decode), and the real Playback queue with its drop bound.
//   - Modelled: the microphone's sound card delivers 10 ms periods
//     (capturePeriod) at real-time instants; oto's mixer moves the queue
//     into a player buffer of PlayerBuffer, polling every millisecond
//     while it is short, as oto/v2's mux does; the output sound card
//     takes one period of devicePeriod at a time (zero-filling what is
//     missing, as oto's ALSA driver does) and plays it DeviceBuffer later
//     (its ring of two periods). The send loop mirrors call's sendAudio.
//     The hardware's own converter and driver latency is not included: it
//     cannot be measured without a sound card.
//
// The microphone gets 1 kHz tone bursts every 250 ms; the delay of each
// is the time from its onset at the microphone to its onset at the
// speaker (the same detector on both sides: the 1 ms RMS crossing half
// the burst's level). The two sound cards' period clocks get a random
// phase per call, as two real cards would. It reports the delays' p50,
// p95 and max over all bursts of all calls, and how many bursts had a
// dropout in the middle (an audible glitch: the card played silence, or
// the queue cut audio).
//
//	go test -run '^$' -bench CallLatency -benchtime 20x ./call/audio/device/
func BenchmarkCallLatency(b *testing.B) {
	var lat []time.Duration
	var missed, bursts, gapped int
	var st callStats
	for i := 0; i < b.N; i++ {
		r, err := runCall(uint64(i), faults{})
		if err != nil {
			b.Fatal(err)
		}
		if testing.Verbose() {
			b.Logf("call %d: target %v jitter %v delays %v, with a dropout %v; %s", i, r.rs.Target, r.rs.Jitter, r.delays, r.gaps, r.stats)
		}
		lat = append(lat, r.delays...)
		missed += r.missed
		bursts += r.bursts
		gapped += r.gapped
		st.add(r.stats)
	}
	b.StopTimer()
	if len(lat) == 0 || missed > bursts/10 {
		b.Fatalf("%d of %d bursts not found at the output", missed, bursts)
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1)+0.5)]) / float64(time.Millisecond)
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.95), "p95-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(q(0), "min-ms")
	b.ReportMetric(float64(missed), "missed")
	b.ReportMetric(float64(gapped), "gapped")
	b.ReportMetric(float64(st.concealed)/float64(b.N), "concealed/call")
	b.Logf("%d bursts in %d calls; %s", len(lat), b.N, st)
}

const (
	callLength  = 3200 * time.Millisecond
	firstBurst  = 600 * time.Millisecond
	burstEvery  = 250 * time.Millisecond
	burstLength = 40 * time.Millisecond
	burstFreq   = 1000.0
	burstAmp    = 0.5
	maxDelay    = 200 * time.Millisecond // search window for a burst's echo
)

func ms(d time.Duration) int { return int(int64(d) * audio.SampleRate / int64(time.Second)) }

// burstSignal returns callLength of silence with tone bursts (2 ms
// raised-cosine edges) and the sample index of each burst's start.
func burstSignal() ([]int16, []int) {
	sig := make([]int16, ms(callLength))
	var starts []int
	ramp := ms(2 * time.Millisecond)
	n := ms(burstLength)
	for at := firstBurst; at+burstLength+maxDelay < callLength; at += burstEvery {
		s := ms(at)
		starts = append(starts, s)
		for i := 0; i < n; i++ {
			g := 1.0
			if i < ramp {
				g = 0.5 - 0.5*math.Cos(math.Pi*float64(i)/float64(ramp))
			} else if n-i < ramp {
				g = 0.5 - 0.5*math.Cos(math.Pi*float64(n-i)/float64(ramp))
			}
			sig[s+i] = int16(burstAmp * g * math.MaxInt16 * math.Sin(2*math.Pi*burstFreq*float64(i)/audio.SampleRate))
		}
	}
	return sig, starts
}

// onset returns the first index in [from, to) where the RMS of the
// preceding 1 ms reaches half the level of a burst, or -1.
func onset(x []int16, from, to int) int {
	w := ms(time.Millisecond)
	thr := 0.5 * burstAmp * math.MaxInt16 / math.Sqrt2
	thr2 := thr * thr * float64(w)
	from = max(from, w)
	to = min(to, len(x))
	if from >= to {
		// The output ended first (a card emulation that fell far
		// behind on an overloaded machine): not found.
		return -1
	}
	var sum float64
	for i := from - w; i < from; i++ {
		sum += float64(x[i]) * float64(x[i])
	}
	for i := from; i < to; i++ {
		v, o := float64(x[i]), float64(x[i-w])
		sum += v*v - o*o
		if sum >= thr2 {
			return i
		}
	}
	return -1
}

// dropout reports whether some 1 ms of x[from:to] has an RMS under a
// quarter of a burst's: a gap in the middle of a burst, where the
// output card played silence or the playback queue cut it.
func dropout(x []int16, from, to int) bool {
	w := ms(time.Millisecond)
	thr := 0.25 * burstAmp * math.MaxInt16 / math.Sqrt2
	thr2 := thr * thr * float64(w)
	from = max(from, 0)
	to = min(to, len(x))
	if to-from < w {
		return false
	}
	var sum float64
	for i := from; i < from+w; i++ {
		sum += float64(x[i]) * float64(x[i])
	}
	for i := from + w; ; i++ {
		if sum < thr2 {
			return true
		}
		if i >= to {
			return false
		}
		v, o := float64(x[i]), float64(x[i-w])
		sum += v*v - o*o
	}
}

type callStats struct {
	underrun  int // ms of output zero-filled after the first sound
	concealed uint64
	late      uint64
	stretched uint64
	shrunk    uint64
	dropped   uint64 // samples dropped at the playback queue
	trimmed   uint64 // samples trimmed at quiet points
}

func (s *callStats) add(o callStats) {
	s.underrun += o.underrun
	s.concealed += o.concealed
	s.late += o.late
	s.stretched += o.stretched
	s.shrunk += o.shrunk
	s.dropped += o.dropped
	s.trimmed += o.trimmed
}

func (s callStats) String() string {
	return fmt.Sprintf("underrun %d ms, concealed %d, late %d, stretched %d, shrunk %d, dropped at the queue %d samples, trimmed %d samples",
		s.underrun, s.concealed, s.late, s.stretched, s.shrunk, s.dropped, s.trimmed)
}

// faults are hiccups injected into a call, at a time from the start of
// the microphone's signal (zero: none).
type faults struct {
	// outputStall: the output card's thread wakes this much late once,
	// at outputAt: it plays silence for the periods it missed (xruns).
	outputAt, outputStall time.Duration
	// sendStall: the send loop stalls this long once, at sendAt, so that
	// the packets of that time reach the receiver late, in a burst.
	sendAt, sendStall time.Duration
}

type callResult struct {
	onsets         []time.Duration // each found burst's onset at the microphone
	delays         []time.Duration
	bursts, missed int
	gapped         int   // bursts with a dropout at the output: an audible glitch
	gaps           []int // their indices
	stats          callStats
	rs             audio.ReceiverStats
}

// runCall runs one call through the pipeline in real time.
func runCall(seed uint64, f faults) (callResult, error) {
	rng := rand.New(rand.NewPCG(seed, 5))
	sig, starts := burstSignal()

	cp := newCapture()
	emu := newOtoEmu()
	pb := &Playback{maxQ: durBytes(MaxQueue)}
	pb.player = emu
	emu.r = &queueReader{pb}

	var rcv *audio.Receiver
	m := audio.Media{
		Input:  func(call.Info) (audio.Source, error) { return cp, nil },
		Output: func(call.Info) (audio.Sink, error) { return pb, nil },
		OnOpen: func(_ call.Info, _ *audio.Sender, r *audio.Receiver) { rcv = r },
	}

	// The two sound cards: the output card's period clock starts at a
	// random phase to the microphone's.
	capStart := time.Now().Add(20 * time.Millisecond)
	devStart := capStart.Add(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); emu.runDevice(devStart, stop, capStart.Add(f.outputAt), f.outputStall) }()
	go func() { defer wg.Done(); emu.runMux(stop) }()

	src, sink, err := m.Open(call.Info{})
	if err != nil {
		close(stop)
		wg.Wait()
		return callResult{}, err
	}

	// The RTP reader: parse and push, as call does with rtc's
	// packets.
	wire := make(chan []byte, 64)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for raw := range wire {
			var p rtp.Packet
			if err := p.Unmarshal(raw); err != nil {
				continue
			}
			sink.Push(p.SequenceNumber, p.Timestamp, p.Payload)
		}
	}()
	// The send loop, as call.Manager.sendAudio with a paced source.
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		defer close(wire)
		stalled := f.sendStall == 0
		sendLoop(src, stop, func(seq uint16, ts uint32, pkt []byte) {
			if !stalled && time.Since(capStart) >= f.sendAt {
				stalled = true
				time.Sleep(f.sendStall)
			}
			p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: pkt}
			raw, err := p.Marshal()
			if err == nil {
				wire <- raw
			}
		})
	}()

	// The microphone's sound card.
	period := capturePeriod
	buf := make([]byte, 2*period)
	for k := 0; (k+1)*period <= len(sig)+ms(100*time.Millisecond); k++ {
		time.Sleep(time.Until(capStart.Add(time.Duration(k+1) * 10 * time.Millisecond)))
		for i := range period {
			var v int16
			if n := k*period + i; n < len(sig) {
				v = sig[n]
			}
			binary.LittleEndian.PutUint16(buf[2*i:], uint16(v))
		}
		cp.onData(nil, buf, uint32(period))
	}

	close(stop)
	cp.Close()
	<-sendDone
	sink.(io.Closer).Close()
	wg.Wait()

	res := callResult{bursts: len(starts)}
	out, dacStart := emu.output()
	skew := dacStart.Sub(capStart) // output index 0 plays skew after input index 0 was captured
	for _, s := range starts {
		in := onset(sig, s, s+ms(burstLength))
		// Output index m plays at capStart + skew + m; look from the
		// input onset's time on.
		from := ms(-skew) + in
		o := onset(out, max(from, 0), from+ms(maxDelay))
		if in < 0 || o < 0 {
			res.missed++
			continue
		}
		if dropout(out, o+ms(time.Millisecond), o+ms(burstLength-4*time.Millisecond)) {
			res.gapped++
			res.gaps = append(res.gaps, len(res.delays))
		}
		res.onsets = append(res.onsets, time.Duration(in)*time.Second/audio.SampleRate)
		res.delays = append(res.delays, skew+time.Duration(o-in)*time.Second/audio.SampleRate)
	}
	s := rcv.Stats()
	res.rs = s
	res.stats = callStats{
		underrun:  emu.underrun * 1000 / audio.SampleRate,
		concealed: s.Concealed, late: s.Late, stretched: s.Stretched, shrunk: s.Shrunk,
		dropped: pb.Dropped(), trimmed: pb.Trimmed(),
	}
	return res, nil
}

// sendLoop mirrors call.Manager.sendAudio with rtc's packetizing: it
// sends what src gives (an empty packet sends nothing but advances the
// timestamp) until stop or an error; a Paced source (the Capture here)
// is read back to back, anything else every 20 ms.
func sendLoop(src call.Source, stop <-chan struct{}, send func(seq uint16, ts uint32, pkt []byte)) {
	var seq uint16
	var ts uint32
	paced := false
	if p, ok := src.(call.Paced); ok {
		paced = p.Paced()
	}
	tick := time.NewTicker(audio.FrameDuration)
	defer tick.Stop()
	for {
		if !paced {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
		pkt, err := src.NextPacket()
		if err != nil {
			return
		}
		if len(pkt) > 0 {
			send(seq, ts, pkt)
			seq++
		}
		ts += audio.FrameSamples
	}
}

// otoEmu stands in for oto/v2's player, mixer and ALSA driver: see
// BenchmarkCallLatency. It implements oto.Player for Playback.
type otoEmu struct {
	r io.Reader

	mu       sync.Mutex
	cond     *sync.Cond
	buf      []byte // the player buffer
	out      []int16
	dacStart time.Time
	heard    bool // a non-zero sample was played
	underrun int  // samples zero-filled after that
}

func newOtoEmu() *otoEmu {
	e := &otoEmu{}
	e.cond = sync.NewCond(&e.mu)
	return e
}

// runMux is oto's mixer loop: read the source while the player buffer
// is short, sleep a millisecond when it gives nothing.
func (e *otoEmu) runMux(stop <-chan struct{}) {
	size := durBytes(PlayerBuffer)
	tmp := make([]byte, size)
	for {
		e.mu.Lock()
		for len(e.buf) >= size {
			select {
			case <-stop:
				e.mu.Unlock()
				return
			default:
			}
			e.cond.Wait()
		}
		e.mu.Unlock()
		select {
		case <-stop:
			return
		default:
		}
		n, _ := e.r.Read(tmp)
		e.mu.Lock()
		e.buf = append(e.buf, tmp[:n]...)
		e.mu.Unlock()
		if n == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// runDevice is the output card: period k plays at start+DeviceBuffer+k
// periods and is taken from the player buffer DeviceBuffer before. Once,
// at stallAt, its thread wakes stall late.
func (e *otoEmu) runDevice(start time.Time, stop <-chan struct{}, stallAt time.Time, stall time.Duration) {
	period := devicePeriod
	periodDur := time.Duration(period) * time.Second / audio.SampleRate
	e.mu.Lock()
	e.dacStart = start.Add(DeviceBuffer)
	e.mu.Unlock()
	for k := 0; ; k++ {
		time.Sleep(time.Until(start.Add(time.Duration(k) * periodDur)))
		if stall > 0 && !time.Now().Before(stallAt) {
			time.Sleep(stall)
			stall = 0
		}
		select {
		case <-stop:
			e.mu.Lock()
			e.cond.Broadcast()
			e.mu.Unlock()
			return
		default:
		}
		e.mu.Lock()
		n := min(len(e.buf)/bytesPerSample, period)
		if time.Since(start.Add(time.Duration(k)*periodDur)) > DeviceBuffer {
			// Woken after the period was due to play (the machine was
			// busy): the card played silence (an xrun); what is
			// buffered waits for the next period.
			n = 0
		}
		for i := 0; i < n; i++ {
			v := int16(binary.LittleEndian.Uint16(e.buf[2*i:]))
			e.out = append(e.out, v)
			if v != 0 {
				e.heard = true
			}
		}
		e.buf = append(e.buf[:0], e.buf[2*n:]...)
		if e.heard {
			e.underrun += period - n
		}
		for i := n; i < period; i++ {
			e.out = append(e.out, 0)
		}
		e.cond.Broadcast()
		e.mu.Unlock()
	}
}

func (e *otoEmu) output() ([]int16, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.out, e.dacStart
}

func (e *otoEmu) Pause()            {}
func (e *otoEmu) Play()             {}
func (e *otoEmu) IsPlaying() bool   { return true }
func (e *otoEmu) Reset()            {}
func (e *otoEmu) Volume() float64   { return 1 }
func (e *otoEmu) SetVolume(float64) {}
func (e *otoEmu) Err() error        { return nil }
func (e *otoEmu) Close() error      { return nil }
func (e *otoEmu) UnplayedBufferSize() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.buf)
}
