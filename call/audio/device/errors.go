package device

import (
	"errors"
	"fmt"
)

// ErrNoDevice is returned (wrapped, with what was tried) when there is no
// sound device to open: no sound card, no audio backend, or no device of
// the requested name.
var ErrNoDevice = errors.New("device: no sound device")

// ErrUnknownDevice is returned (wrapped, with the devices there are) when
// no device, or more than one, goes by the name asked for. It wraps
// ErrNoDevice, so errors.Is(err, ErrNoDevice) holds for it too.
var ErrUnknownDevice = fmt.Errorf("%w: unknown device", ErrNoDevice)

// ErrStalled is returned by Capture.ReadFrame when the microphone has
// delivered nothing for StallTimeout (unplugged, or taken by the system).
var ErrStalled = errors.New("device: capture stalled")
