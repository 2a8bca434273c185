package device

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"

	"github.com/parleynet/parley/call/audio"
)

// Capture tuning.
const (
	// StallTimeout is how long ReadFrame waits for the microphone before
	// it gives up with ErrStalled.
	StallTimeout = time.Second
	// maxCaptureQueue bounds captured audio not yet read (200 ms); older
	// samples are dropped so a slow reader does not build up delay.
	maxCaptureQueue = 10 * audio.FrameSamples
	capturePeriod   = 480 // 10 ms
)

// Info describes a sound device.
type Info struct {
	// Name is the device's name as the system gives it; OpenCapture
	// takes it.
	Name string
	// Default reports whether the system marks it as its default device.
	Default bool
}

var (
	ctxMu sync.Mutex
	mactx *malgo.AllocatedContext
)

// maContext returns the shared miniaudio context, creating it on first use.
func maContext() (*malgo.AllocatedContext, error) {
	ctxMu.Lock()
	defer ctxMu.Unlock()
	if mactx != nil {
		return mactx, nil
	}
	quietALSA()
	// Every backend but miniaudio's "null" one, which would pretend a
	// silent device exists.
	var backends []malgo.Backend
	for b := malgo.Backend(0); b < malgo.BackendNull; b++ {
		backends = append(backends, b)
	}
	c, err := malgo.InitContext(backends, malgo.ContextConfig{}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: no audio backend works (%v)", ErrNoDevice, err)
	}
	mactx = c
	return c, nil
}

// withNull lets tests see ALSA's "null" device among the devices, to
// open a chosen output where there is no sound card. It is set before
// any device is listed and never changed after.
var withNull bool

// devices lists the real devices of kind, leaving out ALSA's "null"
// device (which discards or makes up silence).
func devices(kind malgo.DeviceType) ([]malgo.DeviceInfo, error) {
	c, err := maContext()
	if err != nil {
		return nil, err
	}
	all, err := c.Devices(kind)
	if err != nil {
		return nil, fmt.Errorf("device: listing devices: %w", err)
	}
	var real []malgo.DeviceInfo
	for _, d := range all {
		if idString(d.ID) == "null" && !withNull {
			continue
		}
		real = append(real, d)
	}
	return real, nil
}

// idString returns a device ID as text where the backend uses text (ALSA,
// PulseAudio), else "".
func idString(id malgo.DeviceID) string {
	n := 0
	for n < len(id) && id[n] != 0 {
		if id[n] < 0x20 || id[n] > 0x7e {
			return ""
		}
		n++
	}
	return string(id[:n])
}

func infos(ds []malgo.DeviceInfo) []Info {
	out := make([]Info, len(ds))
	for i := range ds {
		out[i] = Info{Name: ds[i].Name(), Default: ds[i].IsDefault != 0}
	}
	return out
}

// CaptureDevices lists the microphones. No sound card gives an empty
// list; no audio backend at all gives ErrNoDevice.
func CaptureDevices() ([]Info, error) {
	ds, err := devices(malgo.Capture)
	if err != nil {
		return nil, err
	}
	return infos(ds), nil
}

// PlaybackDevices lists the outputs, whose names OpenPlayback takes. No
// sound card gives an empty list; no audio backend at all gives
// ErrNoDevice.
func PlaybackDevices() ([]Info, error) {
	ds, err := devices(malgo.Playback)
	if err != nil {
		return nil, err
	}
	return infos(ds), nil
}

// Capture is a microphone: an audio.Source whose ReadFrame blocks until
// 20 ms have been captured. ReadFrame is for one goroutine; Close may be
// called from another and wakes it.
type Capture struct {
	dev *malgo.Device

	mu     sync.Mutex
	queue  []int16 // captured, not yet read
	drops  uint64  // samples dropped because the queue was full
	err    error   // set when the device stops by itself
	closed bool

	ready chan struct{} // signalled (capacity 1) when samples arrive
	done  chan struct{} // closed by Close
	once  sync.Once
}

// OpenCapture opens the microphone called name (its exact name, else the
// only one whose name contains it, ignoring case), or the system's
// default microphone if name is "". It starts capturing at once. An
// unknown or ambiguous name is ErrUnknownDevice (which is also
// ErrNoDevice).
func OpenCapture(name string) (*Capture, error) {
	c, id, err := find(malgo.Capture, name)
	if err != nil {
		return nil, err
	}

	cfg := malgo.DefaultDeviceConfig(malgo.Capture)
	cfg.Capture.Format = malgo.FormatS16
	cfg.Capture.Channels = audio.Channels
	cfg.SampleRate = audio.SampleRate
	cfg.PeriodSizeInFrames = capturePeriod
	cfg.PerformanceProfile = malgo.LowLatency
	var pin runtime.Pinner
	if id != nil {
		// miniaudio copies the ID during init; pinning lets it see Go memory.
		pin.Pin(id)
		cfg.Capture.DeviceID = unsafe.Pointer(id)
	}
	cp := newCapture()
	dev, err := malgo.InitDevice(c.Context, cfg, malgo.DeviceCallbacks{Data: cp.onData, Stop: cp.onStop})
	pin.Unpin()
	if err != nil {
		return nil, fmt.Errorf("%w: opening capture device %q: %v", ErrNoDevice, name, err)
	}
	cp.dev = dev
	if err := dev.Start(); err != nil {
		dev.Uninit()
		return nil, fmt.Errorf("device: starting capture: %w", err)
	}
	return cp, nil
}

// newCapture returns a Capture with no device yet: OpenCapture attaches
// one, the latency benchmark feeds onData from an emulated sound card.
func newCapture() *Capture {
	return &Capture{
		queue: make([]int16, 0, maxCaptureQueue+audio.FrameSamples),
		ready: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

// find returns the miniaudio context and the ID of the device of kind
// called name (see pick), or a nil ID for the system's default if name
// is "". No device of kind at all is ErrNoDevice; no device of that
// name is ErrUnknownDevice.
func find(kind malgo.DeviceType, name string) (*malgo.AllocatedContext, *malgo.DeviceID, error) {
	what := "capture"
	if kind == malgo.Playback {
		what = "output"
	}
	c, err := maContext()
	if err != nil {
		return nil, nil, err
	}
	ds, err := devices(kind)
	if err != nil {
		return nil, nil, err
	}
	if len(ds) == 0 {
		return nil, nil, fmt.Errorf("%w: no %s device found (backend tried: %s)", ErrNoDevice, what, backendNames())
	}
	if name == "" {
		return c, nil, nil
	}
	names := make([]string, len(ds))
	for i := range ds {
		names[i] = ds[i].Name()
	}
	i, err := pick(names, name)
	if err != nil {
		return nil, nil, fmt.Errorf("%s device: %w", what, err)
	}
	id := new(malgo.DeviceID) // its own object, to pin
	*id = ds[i].ID
	return c, id, nil
}

// pick returns the index in names of the device called name: the one of
// exactly that name, else the only one whose name contains it, ignoring
// case. No match, or several, is ErrUnknownDevice, saying which there
// are.
func pick(names []string, name string) (int, error) {
	if i := slices.Index(names, name); i >= 0 && name != "" {
		return i, nil
	}
	low := strings.ToLower(name)
	var hits []int
	for i, n := range names {
		if low != "" && strings.Contains(strings.ToLower(n), low) {
			hits = append(hits, i)
		}
	}
	if len(hits) == 1 {
		return hits[0], nil
	}
	quote := func(idx []int) string {
		q := make([]string, len(idx))
		for j, i := range idx {
			q[j] = fmt.Sprintf("%q", names[i])
		}
		return strings.Join(q, ", ")
	}
	if len(hits) > 1 {
		return 0, fmt.Errorf("%w: %q matches %s; give more of the name", ErrUnknownDevice, name, quote(hits))
	}
	all := make([]int, len(names))
	for i := range all {
		all[i] = i
	}
	return 0, fmt.Errorf("%w: none is called %q (there are %s)", ErrUnknownDevice, name, quote(all))
}

// onData runs on miniaudio's audio thread with captured S16 samples.
func (c *Capture) onData(_, in []byte, frames uint32) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	n := int(frames)
	if len(in) < 2*n {
		n = len(in) / 2
	}
	for i := 0; i < n; i++ {
		c.queue = append(c.queue, int16(binary.LittleEndian.Uint16(in[2*i:])))
	}
	if over := len(c.queue) - maxCaptureQueue; over > 0 {
		c.drops += uint64(over)
		c.queue = append(c.queue[:0], c.queue[over:]...)
	}
	c.mu.Unlock()
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// onStop runs when the device stops, by Close or by itself (unplugged).
func (c *Capture) onStop() {
	c.mu.Lock()
	if !c.closed && c.err == nil {
		c.err = fmt.Errorf("%w: the capture device stopped", ErrStalled)
	}
	c.mu.Unlock()
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// ReadFrame blocks until a frame has been captured and copies it into pcm
// (exactly audio.FrameSamples long). It returns audio.ErrClosed after
// Close and ErrStalled if the device delivers nothing for StallTimeout.
func (c *Capture) ReadFrame(pcm []int16) error {
	if len(pcm) != audio.FrameSamples {
		return fmt.Errorf("%w: %d samples", audio.ErrFrameSize, len(pcm))
	}
	timer := time.NewTimer(StallTimeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			return audio.ErrClosed
		case len(c.queue) >= audio.FrameSamples:
			copy(pcm, c.queue)
			c.queue = append(c.queue[:0], c.queue[audio.FrameSamples:]...)
			c.mu.Unlock()
			return nil
		case c.err != nil:
			err := c.err
			c.mu.Unlock()
			return err
		}
		c.mu.Unlock()
		select {
		case <-c.ready:
		case <-c.done:
		case <-timer.C:
			return fmt.Errorf("%w: no audio for %v", ErrStalled, StallTimeout)
		}
	}
}

// Paced reports true: ReadFrame blocks until the sound card has captured
// the frame, so the call's send loop needs no clock of its own.
func (c *Capture) Paced() bool { return true }

// Dropped returns how many samples were dropped because frames were not
// read fast enough.
func (c *Capture) Dropped() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.drops
}

// Close stops and releases the device. It is safe to call more than once
// and from another goroutine than ReadFrame's.
func (c *Capture) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.done)
		if c.dev != nil {
			c.dev.Uninit()
		}
	})
	return nil
}

// backendNames says which audio systems this platform's miniaudio tries.
func backendNames() string {
	switch runtime.GOOS {
	case "linux":
		return "PulseAudio, ALSA, JACK"
	case "windows":
		return "WASAPI, DirectSound, WinMM"
	case "darwin":
		return "Core Audio"
	}
	return "the platform's"
}
