package overlay

import "errors"

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

// ErrUnavailable is returned when no supernode could serve a request.
var ErrUnavailable = errors.New("overlay: directory unavailable")

// ErrNotFound is returned by Lookup when no valid record exists.
var ErrNotFound = errors.New("overlay: not found")

// ErrDeliveryRefused is returned by Deliver when the network refused an
// envelope: too big, or over the sender's mailbox quota.
var ErrDeliveryRefused = errors.New("overlay: envelope refused")
