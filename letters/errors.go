package letters

import "errors"

// Errors of the letters API.
var (
	// ErrMalformed, wrapped by a handler's error, drops the letter: it
	// can never be taken, so it must not come again.
	ErrMalformed = errors.New("letters: malformed letter")
	// ErrNotContact: the contact's state does not allow this kind.
	ErrNotContact = errors.New("letters: not a contact this letter may go to")
	// ErrUnknownKind: no service registered the kind.
	ErrUnknownKind = errors.New("letters: unknown kind")
	// ErrKindTaken: Register was given a kind another service owns.
	ErrKindTaken = errors.New("letters: kind already registered")
)
