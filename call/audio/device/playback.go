package device

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/hajimehoshi/oto/v2"

	"github.com/parleynet/parley/call/audio"
)

// Playback buffering (see the package doc).
const (
	// PlayerBuffer is oto's player buffer: how much it reads ahead from
	// the queue. oto's default is 500 ms.
	PlayerBuffer = 40 * time.Millisecond
	// DeviceBuffer is the ALSA (or other backend) buffer oto asks for,
	// in two periods.
	DeviceBuffer = 40 * time.Millisecond
	// MaxQueue bounds audio written but not yet taken by the player;
	// beyond it the oldest is dropped, so that a playout clock running
	// faster than the sound card cannot build up delay.
	MaxQueue = 20 * time.Millisecond

	bytesPerSample = 2
	// retryAfter: a failed attempt to open the output is not repeated
	// sooner (each attempt leaves an idle goroutine in oto).
	retryAfter = 5 * time.Second
)

func durBytes(d time.Duration) int {
	return int(int64(d)*audio.SampleRate/int64(time.Second)) * bytesPerSample
}

// oto allows one context per process; it is opened on first use and
// kept.
var (
	otoMu      sync.Mutex
	otoCtx     *oto.Context
	otoErr     error
	otoErrTime time.Time
)

func otoContext() (*oto.Context, error) {
	otoMu.Lock()
	defer otoMu.Unlock()
	if otoCtx != nil {
		return otoCtx, nil
	}
	if otoErr != nil && time.Since(otoErrTime) < retryAfter {
		return nil, otoErr
	}
	quietALSA()
	ctx, ready, err := oto.NewContextWithOptions(&oto.NewContextOptions{
		SampleRate:   audio.SampleRate,
		ChannelCount: audio.Channels,
		Format:       oto.FormatSignedInt16LE,
		BufferSize:   DeviceBuffer,
	})
	if err == nil {
		<-ready
		err = ctx.Err()
	}
	if err != nil {
		otoErr = fmt.Errorf("%w: opening the default output: %v", ErrNoDevice, err)
		otoErrTime = time.Now()
		return nil, otoErr
	}
	otoCtx = ctx
	return ctx, nil
}

// Playback is the speakers (the system's default output): an audio.Sink
// whose WriteFrame queues the frame and returns at once. The caller's
// 20 ms playout clock paces it. Its methods are safe for concurrent use.
type Playback struct {
	player oto.Player

	mu      sync.Mutex
	queue   []byte // S16LE samples written, not yet read by the player
	dropped uint64 // frames' worth of samples dropped from a full queue
	closed  bool
	maxQ    int
}

// OpenPlayback opens the default output.
func OpenPlayback() (*Playback, error) {
	ctx, err := otoContext()
	if err != nil {
		return nil, err
	}
	p := &Playback{maxQ: durBytes(MaxQueue)}
	p.player = ctx.NewPlayer(&queueReader{p})
	if s, ok := p.player.(oto.BufferSizeSetter); ok {
		s.SetBufferSize(durBytes(PlayerBuffer))
	}
	p.player.Play()
	return p, nil
}

// WriteFrame queues one frame for playing.
func (p *Playback) WriteFrame(pcm []int16) error {
	if len(pcm) != audio.FrameSamples {
		return fmt.Errorf("%w: %d samples", audio.ErrFrameSize, len(pcm))
	}
	if err := p.player.Err(); err != nil {
		return fmt.Errorf("device: playback: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return audio.ErrClosed
	}
	for _, v := range pcm {
		p.queue = binary.LittleEndian.AppendUint16(p.queue, uint16(v))
	}
	if over := len(p.queue) - p.maxQ; over > 0 {
		over = (over + bytesPerSample - 1) &^ (bytesPerSample - 1)
		p.dropped += uint64(over / bytesPerSample)
		p.queue = append(p.queue[:0], p.queue[over:]...)
	}
	return nil
}

// Buffered returns how much audio is written but not yet handed to the
// device: this package's queue plus oto's player buffer. The device
// buffer (DeviceBuffer) comes on top.
func (p *Playback) Buffered() time.Duration {
	p.mu.Lock()
	q := len(p.queue)
	p.mu.Unlock()
	n := q + p.player.UnplayedBufferSize()
	return time.Duration(n/bytesPerSample) * time.Second / audio.SampleRate
}

// Dropped returns how many samples were dropped from a full queue.
func (p *Playback) Dropped() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// Close stops this output (the shared device stays open for the next).
func (p *Playback) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.queue = nil
	p.mu.Unlock()
	return p.player.Close()
}

// queueReader is what oto's player reads: whatever is queued, or nothing
// (oto then plays silence and tries again a millisecond later).
type queueReader struct{ p *Playback }

func (r *queueReader) Read(b []byte) (int, error) {
	p := r.p
	p.mu.Lock()
	defer p.mu.Unlock()
	n := copy(b, p.queue)
	n &^= bytesPerSample - 1
	p.queue = append(p.queue[:0], p.queue[n:]...)
	return n, nil
}
