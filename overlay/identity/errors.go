package identity

import "errors"

// ErrBadNodeID is returned when text does not parse as a NodeID.
var ErrBadNodeID = errors.New("identity: bad node ID")

// ErrBadIdentity is returned when stored key material is not a valid identity.
var ErrBadIdentity = errors.New("identity: bad identity")
