package chat

import (
	"errors"

	"github.com/parleynet/parley/letters"
)

// Errors of the chat API.
var (
	ErrMalformed    = letters.ErrMalformed // a letter that can never be taken
	ErrNotContact   = errors.New("chat: not an accepted contact")
	ErrTooLong      = errors.New("chat: message too long")
	ErrEmpty        = errors.New("chat: empty message")
	ErrSelf         = errors.New("chat: that is your own username")
	ErrKeyChanged   = errors.New("chat: the contact's key changed; accept the new key first")
	ErrNameNotFound = errors.New("chat: no such username")
	ErrBlocked      = errors.New("chat: contact is blocked")
)
