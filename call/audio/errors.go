package audio

import "errors"

// ErrFrameSize is returned when a buffer handed to a Source, Sink or codec
// is not exactly one frame (FrameSamples samples) long.
var ErrFrameSize = errors.New("audio: buffer is not one 20 ms frame")

// ErrClosed is returned by a Source or Sink used after Close.
var ErrClosed = errors.New("audio: closed")

// ErrUnsupportedWAV is returned for a WAV file this package cannot read:
// not RIFF/WAVE, not integer PCM, or an unusual sample size.
var ErrUnsupportedWAV = errors.New("audio: unsupported WAV file")

// ErrPacketDuration is returned by Decoder.Decode for an Opus packet that
// does not hold exactly one 20 ms frame.
var ErrPacketDuration = errors.New("audio: Opus packet is not 20 ms")
