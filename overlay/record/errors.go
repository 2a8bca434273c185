package record

import "errors"

// ErrBadRecord is returned when a directory record is invalid: a bad
// signature, a malformed body, expired, too large or too long-lived, a
// claim without its proof of work, or a record under another peer's key.
var ErrBadRecord = errors.New("record: bad record")

// ErrStale is returned when a record does not carry a higher sequence
// number than the one held: an older record or a replay.
var ErrStale = errors.New("record: stale record")

// ErrNameTaken is returned when a valid claim by another key holds a name.
var ErrNameTaken = errors.New("record: name taken")

// ErrBadName is returned when a username does not have the allowed form.
var ErrBadName = errors.New("record: bad username")
