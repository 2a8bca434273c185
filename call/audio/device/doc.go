// Package device connects call audio to the computer's sound card: a
// microphone as an audio.Source (capture through miniaudio, via
// github.com/gen2brain/malgo) and the speakers as an audio.Sink (playback
// through github.com/hajimehoshi/oto/v2). Both speak the format of package
// audio: 48 kHz mono int16 in 20 ms frames; the libraries convert to and
// from what the hardware has.
//
// The package needs cgo and the platform's sound libraries (ALSA on
// Linux); the headless seed never imports it. Importing it touches no
// device: nothing is opened until OpenCapture, OpenPlayback or a device
// list is asked for. On a machine without a sound card those return an
// error that wraps ErrNoDevice and says what was tried.
//
// # Latency
//
// Playback goes through three buffers: this package's queue (at most
// MaxQueue, 20 ms; older audio is dropped beyond it), oto's player buffer
// (cut from oto's default of 500 ms to PlayerBuffer, 40 ms) and the
// device buffer oto asks ALSA for (DeviceBuffer, 40 ms in two periods).
// Measured with frames written every 20 ms in real time to a PulseAudio
// null sink (through ALSA's pulse plugin; no sound card here), the first
// two held 48 ms on average (p95 53 ms, at most 60 ms) with no drops
// once the sink had started. The sink's own startup stall (about 1 s, in
// which PulseAudio took nothing) was dropped at the queue instead of
// becoming a second of delay, which is what the bound is for.
//
// Capture asks miniaudio for 10 ms periods and hands out a frame as soon
// as 20 ms are in; at most 200 ms wait unread before the oldest is
// dropped.
package device
