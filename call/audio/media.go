package audio

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parleynet/parley/call"
)

// Media is the audio of calls (call.Media): each established call gets a
// Sender reading from the Source that Input makes, and a Receiver, played
// out every 20 ms, writing to the Sink that Output makes.
type Media struct {
	// Input and Output make a call's microphone and speaker: devices, or
	// WAV files and tones for tests and headless peers.
	Input  func(call.Info) (Source, error)
	Output func(call.Info) (Sink, error)
	// Encoder and Jitter configure the codec and the jitter buffer
	// (defaults when zero).
	Encoder EncoderConfig
	Jitter  JitterConfig
	// OnOpen, if set, is told of each call's sender and receiver (the
	// latency benchmark reads the receiver's statistics).
	OnOpen func(call.Info, *Sender, *Receiver)
}

// Open implements call.Media.
func (m Media) Open(info call.Info) (call.Source, call.Sink, error) {
	if m.Input == nil || m.Output == nil {
		return nil, nil, errors.New("audio: no input or output configured")
	}
	src, err := m.Input(info)
	if err != nil {
		return nil, nil, fmt.Errorf("audio: input: %w", err)
	}
	snd, err := NewSender(src, m.Encoder)
	if err != nil {
		src.Close()
		return nil, nil, err
	}
	sink, err := m.Output(info)
	if err != nil {
		snd.Close()
		return nil, nil, fmt.Errorf("audio: output: %w", err)
	}
	rcv, err := NewReceiver(sink, m.Jitter)
	if err != nil {
		snd.Close()
		sink.Close()
		return nil, nil, err
	}
	if m.OnOpen != nil {
		m.OnOpen(info, snd, rcv)
	}
	return snd, newPlayout(rcv), nil
}

// playout drives a Receiver: Push from the network, Tick every 20 ms.
//
// The clock's phase follows the packets: when the jitter buffer is
// priming (at the start, after the other end went quiet), the first
// packet is played when it is due at the target delay rather than at the
// next tick of a free-running clock, which would add up to 20 ms of
// delay for the whole talk spurt. Ticks then follow every 20 ms from
// there, or sooner when the next slot is due sooner (JitterBuffer.Due):
// after a tick that came late (a busy machine), a stretch, or a target
// that came down, the clock catches up with the slots instead of keeping
// the extra delay for the rest of the talk spurt. The audio it writes
// early waits in the sink, which trims it (the device's Playback does,
// where the audio is quiet or repeats itself). The jitter buffer judges
// each tick by the time it runs.
type playout struct {
	r    *Receiver
	wake chan struct{} // a packet came: when the next slot is due may have changed
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newPlayout(r *Receiver) *playout {
	p := &playout{r: r, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *playout) run() {
	defer close(p.done)
	next := time.Now().Add(FrameDuration)
	var last time.Time // the last tick
	t := time.NewTimer(FrameDuration)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.wake:
		case <-t.C:
			now := time.Now()
			p.r.Tick(now)
			last = now
			next = next.Add(FrameDuration)
			if now.Sub(next) > FrameDuration {
				next = now.Add(FrameDuration) // fell behind: start again from now
			}
		}
		if due, ok := p.r.Due(time.Now()); ok && due.Before(next) {
			// Catching up is quick but bounded: whatever the packets'
			// timestamps say, at most one tick per minTickGap.
			next = latest(due, last.Add(minTickGap))
		}
		t.Reset(time.Until(next))
	}
}

// minTickGap is the least time between two ticks of the playout clock
// while it catches up.
const minTickGap = time.Millisecond

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Push implements call.Sink.
func (p *playout) Push(seq uint16, ts uint32, payload []byte) {
	p.r.Push(seq, ts, payload, time.Now())
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Level returns the level of the last frame played, in dBFS.
func (p *playout) Level() float64 { return p.r.Level() }

// Close stops the playout and closes the receiver and its sink.
func (p *playout) Close() error {
	p.once.Do(func() { close(p.stop) })
	<-p.done
	return p.r.Close()
}
