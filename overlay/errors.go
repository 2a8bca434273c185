package overlay

import "errors"

// ErrBadNodeID is returned when text does not parse as a NodeID.
var ErrBadNodeID = errors.New("overlay: bad node ID")

// ErrBadIdentity is returned when stored key material is not a valid identity.
var ErrBadIdentity = errors.New("overlay: bad identity")

// ErrNodeIDMismatch is returned when the peer at the other end of a link
// presents a key whose NodeID is not the one the dialer expected.
var ErrNodeIDMismatch = errors.New("overlay: peer key does not match expected node ID")

// ErrBadPeerCertificate is returned when a peer's TLS certificate does not
// carry exactly one ed25519 key.
var ErrBadPeerCertificate = errors.New("overlay: peer certificate is not a Parley ed25519 certificate")

// ErrRedirected is returned by a login attempt that a supernode turned away
// because it is over capacity or over its login rate.
var ErrRedirected = errors.New("overlay: login redirected")

// ErrBadSeed is returned when a seed address does not parse.
var ErrBadSeed = errors.New("overlay: bad seed address")

// ErrProtocol is returned when a peer sends a message that is valid on the
// wire but wrong at that point of the conversation.
var ErrProtocol = errors.New("overlay: protocol violation")

// ErrClosed is returned by operations on a closed link or stopped node.
var ErrClosed = errors.New("overlay: closed")

// ErrBadRecord is returned when a directory record is invalid: a bad
// signature, a malformed body, expired, too large or too long-lived, a
// claim without its proof of work, or a record under another peer's key.
var ErrBadRecord = errors.New("overlay: bad record")

// ErrStale is returned when a record does not carry a higher sequence
// number than the one held: an older record or a replay.
var ErrStale = errors.New("overlay: stale record")

// ErrNameTaken is returned when a valid claim by another key holds a name.
var ErrNameTaken = errors.New("overlay: name taken")

// ErrBadName is returned when a username does not have the allowed form.
var ErrBadName = errors.New("overlay: bad username")
