package device

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"
	"github.com/hajimehoshi/oto/v2"

	"github.com/parleynet/parley/call/audio"
)

// Playback buffering (see the package doc).
const (
	// PlayerBuffer is oto's player buffer: how much its mixer reads ahead
	// from the queue (oto's default is 500 ms). It must hold at least one
	// device period, or each period would be played partly as silence.
	PlayerBuffer = 10 * time.Millisecond
	// DeviceBuffer is the ALSA (or other backend) buffer asked for: two
	// periods of devicePeriod (13⅓ ms, rounded up to the nanosecond so
	// that oto's arithmetic lands on whole periods); every sample waits
	// this long in it. Periods of this size are within what sound cards,
	// PulseAudio and PipeWire grant low-latency clients, but the figure
	// is a guess for real hardware, untried here (the development
	// machine has no sound card): if playback crackles, this is the
	// constant to raise, by whole periods.
	DeviceBuffer = (2*devicePeriod*time.Second + audio.SampleRate - 1) / audio.SampleRate
	// MaxQueue bounds audio written but not yet taken by the player;
	// beyond it the oldest is dropped, so that a playout clock running
	// faster than the sound card cannot build up delay even where the
	// audio has no quiet point to trim. Two frames: room for the frame
	// being written and one frame of excess for trimming to take out.
	MaxQueue = 2 * audio.FrameDuration
	// TrimKeep is the standing level that trimming leaves: the least
	// audio waiting (queue and player buffer) just before a frame is
	// written, over the last trimWindow frames. Anything above it is
	// delay that an underrun, a late or early tick of the playout clock
	// or a stretch of the jitter buffer left behind, and is taken out
	// where the audio is quiet (audio.TrimQuiet), at most trimPerFrame a
	// frame, or where it repeats itself if it has no quiet point
	// (audio.TrimAligned; see alignAfter). The least level over a
	// window already allows for how late the playout clock's ticks have
	// come; TrimKeep is a margin on top. Less than a device period
	// standing leaves the card only the phase of its next period to
	// spare for a late write, so when the level rises again within
	// guardHold writes of a trim (the card came up short, or the clock
	// had to catch up), trimming leaves a device period standing for
	// the next guardHold writes.
	TrimKeep = 2 * time.Millisecond
	// guardHold is how long, in writes, trimming keeps a device period
	// standing after a second hiccup soon after a trim (5 s).
	guardHold = 250
	// trimWindow is how many writes the standing level is measured over
	// (200 ms).
	trimWindow = 10
	// trimPerFrame is the most trimmed from one frame (5 ms of 20).
	trimPerFrame = 2 * audio.TrimBlock
	// alignAfter and alignEvery: audio with no quiet point (music, a
	// noisy room) is trimmed by audio.TrimAligned instead, once the
	// excess has found no quiet point for alignAfter writes, and then at
	// most every alignEvery writes.
	alignAfter = trimWindow
	alignEvery = 5

	bytesPerSample = 2
	// devicePeriod is one period of the device buffer in samples: 320
	// (6⅔ ms), a third of a frame. A period that does not divide the
	// frame leaves some periods short of audio at some phases of the
	// playout clock, which plays as silence and adds to the delay for
	// good (8 ms periods cost 4 ms that way in BenchmarkCallLatency).
	devicePeriod = 320
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

// Playback is the speakers: an audio.Sink whose WriteFrame queues the
// frame and returns at once. The caller's 20 ms playout clock paces it.
// The system's default output plays through oto (its player buffer
// reads the queue); a chosen one through miniaudio, whose callback reads
// the queue directly. Its methods are safe for concurrent use.
type Playback struct {
	player oto.Player    // the default output, or
	dev    *malgo.Device // a chosen one

	mu      sync.Mutex
	queue   []byte // S16LE samples written, not yet read by the player
	dropped uint64 // frames' worth of samples dropped from a full queue
	closed  bool
	err     error // the chosen device stopped by itself
	maxQ    int

	// Trimming (see TrimKeep): the samples waiting before each of the
	// last trimWindow writes of a stretch of sound, by write count.
	levels  [trimWindow]int
	nLevels int
	stuck   int    // writes in a row with excess and no quiet point
	since   int    // writes since the last trim
	guard   int    // writes left that trimming keeps a device period standing
	trimmed uint64 // samples trimmed
	scratch []int16
}

// OpenPlayback opens the output called name (its exact name, else the
// only one whose name contains it, ignoring case; PlaybackDevices lists
// them), or the system's default output if name is "". An unknown or
// ambiguous name is ErrUnknownDevice (which is also ErrNoDevice).
func OpenPlayback(name string) (*Playback, error) {
	if name != "" {
		return openChosen(name)
	}
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

// openChosen opens the output called name through miniaudio, with the
// same device buffering as oto's: two periods of devicePeriod.
func openChosen(name string) (*Playback, error) {
	c, id, err := find(malgo.Playback, name)
	if err != nil {
		return nil, err
	}
	cfg := malgo.DefaultDeviceConfig(malgo.Playback)
	cfg.Playback.Format = malgo.FormatS16
	cfg.Playback.Channels = audio.Channels
	cfg.SampleRate = audio.SampleRate
	cfg.PeriodSizeInFrames = devicePeriod
	cfg.Periods = 2
	cfg.PerformanceProfile = malgo.LowLatency
	var pin runtime.Pinner
	pin.Pin(id) // miniaudio copies the ID during init
	cfg.Playback.DeviceID = unsafe.Pointer(id)
	p := &Playback{maxQ: durBytes(MaxQueue)}
	dev, err := malgo.InitDevice(c.Context, cfg, malgo.DeviceCallbacks{Data: p.onData, Stop: p.onStop})
	pin.Unpin()
	if err != nil {
		return nil, fmt.Errorf("%w: opening output device %q: %v", ErrNoDevice, name, err)
	}
	p.dev = dev
	if err := dev.Start(); err != nil {
		dev.Uninit()
		return nil, fmt.Errorf("device: starting output %q: %w", name, err)
	}
	return p, nil
}

// onData runs on miniaudio's audio thread: it fills out with what is
// queued, and silence for what is missing (an underrun plays silence).
func (p *Playback) onData(out, _ []byte, frames uint32) {
	n := min(len(out), int(frames)*bytesPerSample)
	got, _ := (&queueReader{p}).Read(out[:n])
	clear(out[got:n])
}

// onStop runs when the chosen device stops, by Close or by itself
// (unplugged): WriteFrame then fails.
func (p *Playback) onStop() {
	p.mu.Lock()
	if !p.closed && p.err == nil {
		p.err = errors.New("device: the output device stopped")
	}
	p.mu.Unlock()
}

// WriteFrame queues one frame for playing.
func (p *Playback) WriteFrame(pcm []int16) error {
	if len(pcm) != audio.FrameSamples {
		return fmt.Errorf("%w: %d samples", audio.ErrFrameSize, len(pcm))
	}
	unplayed := 0
	if p.player != nil {
		if err := p.player.Err(); err != nil {
			return fmt.Errorf("device: playback: %w", err)
		}
		// Asked before taking p.mu: oto's player may hold its own lock
		// while it reads the queue.
		unplayed = p.player.UnplayedBufferSize() / bytesPerSample
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return audio.ErrClosed
	}
	if p.err != nil {
		return p.err
	}
	if len(p.queue) == 0 && silent(pcm) {
		// Queued silence would only delay what comes after it: the device
		// plays silence by itself when there is nothing (oto's mixer and
		// miniaudio's callback both fill with zeros). The receiver writes
		// such frames while its jitter buffer primes.
		p.nLevels = 0
		return nil
	}
	pcm = p.trim(pcm, len(p.queue)/bytesPerSample+unplayed)
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

// trim notes the level (samples waiting) before a write and returns the
// frame to queue: pcm, or a copy shortened by the excess of the standing
// level over TrimKeep, at quiet points, or where the audio repeats
// itself if it has had none for a while.
func (p *Playback) trim(pcm []int16, level int) []int16 {
	p.since++
	if p.nLevels > 0 && level >= p.levels[0]+audio.TrimBlock && p.trimmed > 0 && p.since <= guardHold {
		p.guard = guardHold
	}
	keep := durSamples(TrimKeep)
	if p.guard > 0 {
		p.guard--
		keep = max(keep, devicePeriod)
	}
	copy(p.levels[1:], p.levels[:trimWindow-1])
	p.levels[0] = level
	p.nLevels = min(p.nLevels+1, trimWindow)
	if p.nLevels < trimWindow {
		return pcm
	}
	excess := slices.Min(p.levels[:]) - keep
	if excess < audio.TrimBlock {
		p.stuck = 0
		return pcm
	}
	p.scratch = append(p.scratch[:0], pcm...)
	out, n := audio.TrimQuiet(p.scratch, min(excess, trimPerFrame))
	if n > 0 {
		p.stuck = 0
	} else {
		p.stuck++
		if p.stuck < alignAfter {
			return pcm
		}
		if out, n = audio.TrimAligned(p.scratch, excess); n == 0 {
			return pcm
		}
		p.stuck = alignAfter - alignEvery
	}
	p.trimmed += uint64(n)
	p.since = 0
	// Every level measured would have been n lower.
	for i := range p.levels {
		p.levels[i] -= n
	}
	return out
}

func durSamples(d time.Duration) int { return durBytes(d) / bytesPerSample }

// silent reports whether pcm is digital silence.
func silent(pcm []int16) bool {
	for _, v := range pcm {
		if v != 0 {
			return false
		}
	}
	return true
}

// Buffered returns how much audio is written but not yet handed to the
// device: this package's queue plus oto's player buffer (a chosen device
// has none). The device buffer (DeviceBuffer) comes on top.
func (p *Playback) Buffered() time.Duration {
	p.mu.Lock()
	q := len(p.queue)
	p.mu.Unlock()
	n := q
	if p.player != nil {
		n += p.player.UnplayedBufferSize()
	}
	return time.Duration(n/bytesPerSample) * time.Second / audio.SampleRate
}

// Trimmed returns how many samples were taken out at quiet points to
// bring the delay back down (see TrimKeep).
func (p *Playback) Trimmed() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.trimmed
}

// Dropped returns how many samples were dropped from a full queue.
func (p *Playback) Dropped() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// Close stops this output (oto's shared default output stays open for
// the next; a chosen device is released).
func (p *Playback) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.queue = nil
	p.mu.Unlock()
	if p.dev != nil {
		p.dev.Uninit()
		return nil
	}
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
