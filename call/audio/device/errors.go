package device

import "errors"

// ErrNoDevice is returned (wrapped, with what was tried) when there is no
// sound device to open: no sound card, no audio backend, or no device of
// the requested name.
var ErrNoDevice = errors.New("device: no sound device")

// ErrStalled is returned by Capture.ReadFrame when the microphone has
// delivered nothing for StallTimeout (unplugged, or taken by the system).
var ErrStalled = errors.New("device: capture stalled")
