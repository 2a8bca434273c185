// Package layers has no code: its tests hold the project to the layers of
// docs/ARCHITECTURE.md (who may import whom) and to the size limits the
// house keeps (no function over 120 lines, a supernode of at most 25
// methods), so that a change that wears a layer through fails CI.
package layers
