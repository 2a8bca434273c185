package audio

import (
	"fmt"
	"time"
)

// The one format used everywhere in this package and on the wire.
const (
	// SampleRate is the sample rate in Hz (Opus's native rate and the RTP
	// clock rate of the Opus payload).
	SampleRate = 48000
	// Channels is the channel count: Parley's voice is mono.
	Channels = 1
	// FrameDuration is the length of one frame and of one Opus packet.
	FrameDuration = 20 * time.Millisecond
	// FrameSamples is the number of samples in one frame (960).
	FrameSamples = SampleRate * 20 / 1000
)

// Source produces audio one frame at a time.
//
// ReadFrame fills pcm, which must be exactly FrameSamples long, with the
// next frame of 48 kHz mono int16 samples. A live source (a microphone)
// blocks until a frame has been captured; a file or generated source
// returns at once, and the caller paces it with a 20 ms clock. A source
// that has run out returns io.EOF.
type Source interface {
	ReadFrame(pcm []int16) error
	Close() error
}

// Sink consumes audio one frame at a time.
//
// WriteFrame takes pcm, exactly FrameSamples samples of 48 kHz mono int16;
// the sink must not keep pcm after it returns.
type Sink interface {
	WriteFrame(pcm []int16) error
	Close() error
}

// checkFrame returns ErrFrameSize (with the length seen) unless pcm is one
// frame long.
func checkFrame(pcm []int16) error {
	if len(pcm) != FrameSamples {
		return fmt.Errorf("%w: %d samples, want %d", ErrFrameSize, len(pcm), FrameSamples)
	}
	return nil
}
