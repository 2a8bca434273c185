package audio

import (
	"math"
	"sync/atomic"
)

// ToneSource generates a sine wave with continuous phase across frames. It
// never runs out and returns at once: the caller paces it.
type ToneSource struct {
	step   float64 // phase increment per sample, radians
	amp    float64 // peak amplitude in sample units
	phase  float64 // phase of the next sample, in [0, 2π)
	closed bool
}

// NewToneSource returns a source of a freq Hz sine whose peak is amplitude
// times full scale (1.0 is a full-scale sine, about −3 dBFS RMS).
// Amplitude is clamped to [0, 1].
func NewToneSource(freq, amplitude float64) *ToneSource {
	amplitude = math.Max(0, math.Min(1, amplitude))
	return &ToneSource{
		step: 2 * math.Pi * freq / SampleRate,
		amp:  amplitude * math.MaxInt16,
	}
}

// ReadFrame fills pcm with the next frame of the tone.
func (t *ToneSource) ReadFrame(pcm []int16) error {
	if t.closed {
		return ErrClosed
	}
	if err := checkFrame(pcm); err != nil {
		return err
	}
	for i := range pcm {
		pcm[i] = int16(math.Round(t.amp * math.Sin(t.phase)))
		t.phase += t.step
		if t.phase >= 2*math.Pi {
			t.phase -= 2 * math.Pi
		}
	}
	return nil
}

// Close stops the source; later reads return ErrClosed.
func (t *ToneSource) Close() error {
	t.closed = true
	return nil
}

// NullSink discards every frame. Its zero value is ready to use.
type NullSink struct{}

// WriteFrame checks the frame's size and discards it.
func (NullSink) WriteFrame(pcm []int16) error { return checkFrame(pcm) }

// Close does nothing.
func (NullSink) Close() error { return nil }

// Mute wraps a Source and replaces its frames by silence while muted. The
// wrapped source is still read, so a live microphone keeps its pace.
// SetMuted and Muted are safe to call from any goroutine.
type Mute struct {
	src   Source
	muted atomic.Bool
}

// NewMute wraps src, initially not muted.
func NewMute(src Source) *Mute { return &Mute{src: src} }

// SetMuted mutes (true) or unmutes (false) the source from the next frame on.
func (m *Mute) SetMuted(muted bool) { m.muted.Store(muted) }

// Muted reports whether the source is muted.
func (m *Mute) Muted() bool { return m.muted.Load() }

// ReadFrame reads a frame from the wrapped source and zeroes it if muted.
func (m *Mute) ReadFrame(pcm []int16) error {
	if err := m.src.ReadFrame(pcm); err != nil {
		return err
	}
	if m.muted.Load() {
		clear(pcm)
	}
	return nil
}

// Close closes the wrapped source.
func (m *Mute) Close() error { return m.src.Close() }

// MinLevel is the level in dBFS that Meter reports for digital silence; it
// is below the quietest non-silent int16 frame (about −90 dBFS).
const MinLevel = -120.0

// Meter measures the RMS level of the last frame it saw, in dBFS relative
// to a full-scale square wave: a full-scale sine reads about −3 dBFS,
// silence reads MinLevel. Observe is called by the audio goroutine; Level
// is safe to call from any other goroutine (a UI's level bar). The zero
// value reads MinLevel.
type Meter struct {
	bits atomic.Uint64 // math.Float64bits of the level + 1000, so that 0 means "never observed"
}

// Observe measures pcm and makes it the last frame.
func (m *Meter) Observe(pcm []int16) {
	m.bits.Store(math.Float64bits(Level(pcm) + 1000))
}

// Level returns the RMS level of the last observed frame in dBFS.
func (m *Meter) Level() float64 {
	b := m.bits.Load()
	if b == 0 {
		return MinLevel
	}
	return math.Float64frombits(b) - 1000
}

// Level returns the RMS level of pcm in dBFS (MinLevel for silence or an
// empty slice).
func Level(pcm []int16) float64 {
	if len(pcm) == 0 {
		return MinLevel
	}
	var sum float64
	for _, s := range pcm {
		v := float64(s)
		sum += v * v
	}
	if sum == 0 {
		return MinLevel
	}
	rms := math.Sqrt(sum/float64(len(pcm))) / 32768
	return math.Max(MinLevel, 20*math.Log10(rms))
}
