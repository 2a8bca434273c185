package relay

import "errors"

// ErrConfig is returned by NewServer for a configuration it cannot run.
var ErrConfig = errors.New("relay: bad configuration")

// ErrQuota is returned to pion (and so refused to the client) when an
// allocation would exceed the per-user or the total allocation quota.
var ErrQuota = errors.New("relay: allocation quota reached")

// ErrNoUser is returned to pion when an allocation is asked for by a request
// that was not authenticated as a user; it does not happen with pion's
// request handling as it is, and fails closed if that ever changes.
var ErrNoUser = errors.New("relay: allocation without an authenticated user")

// ErrTCPRelay is returned to pion for a TCP allocation, which this server
// does not offer.
var ErrTCPRelay = errors.New("relay: TCP relays are not offered")
