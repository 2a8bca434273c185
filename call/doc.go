// Package call will hold the call state machine, the WebRTC audio session
// and the audio pipeline with its devices (see ../shared/DESIGN.md,
// "Media"). Audio device code that needs cgo goes in a sub-package, so that
// the headless seed never links it.
package call
