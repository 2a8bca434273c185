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
// list is asked for. The system's default output plays through oto; a
// chosen one (by name, as PlaybackDevices lists them) through miniaudio. On a machine without a sound card those return an
// error that wraps ErrNoDevice and says what was tried.
//
// # Latency
//
// Playback goes through three buffers: this package's queue (at most
// MaxQueue, two frames; older audio is dropped beyond it, and silence
// written to an empty queue is not queued), the player buffer of oto
// (cut from oto's default of 500 ms to PlayerBuffer, 10 ms) and the
// device buffer asked of ALSA or the other backend (DeviceBuffer, two
// periods of 6⅔ ms). A chosen output (OpenPlayback with a name) plays
// through miniaudio, whose callback reads the queue directly, with the
// same device buffer. The least audio waiting just before each write,
// over the last 200 ms, is delay that a hiccup left behind beyond
// TrimKeep (2 ms): it is trimmed where the audio is quiet
// (audio.TrimQuiet), at most 5 ms a frame, or, after 200 ms without a
// quiet point, a period at a time where the audio repeats itself
// (audio.TrimAligned), so that an underrun or a late packet costs a few
// frames of extra delay, not the rest of the talk spurt. After a second
// hiccup within 5 s of a trim, trimming leaves a device period standing
// for 5 s: with less, a late write finds the card short again. BenchmarkCallLatency measures the whole pipeline,
// microphone to speaker, with the sound cards emulated (see
// docs/BENCHMARKS.md); the device buffer's size is a guess for real
// hardware, which this machine lacks.
//
// Capture asks miniaudio for 10 ms periods and hands out a frame as soon
// as 20 ms are in; at most 200 ms wait unread before the oldest is
// dropped.
package device
