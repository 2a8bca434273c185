package envelope

import "errors"

// Errors. Every error from Open wraps one of these; so does every error
// from Seal except a failure of its random source.
var (
	// ErrMalformed: the envelope, or the letter inside it, does not parse.
	ErrMalformed = errors.New("envelope: malformed")
	// ErrDecrypt: the envelope is not for this identity, or it was altered.
	ErrDecrypt = errors.New("envelope: cannot decrypt")
	// ErrSignature: the letter's signature does not verify under the key it names.
	ErrSignature = errors.New("envelope: bad signature")
	// ErrNotForMe: the letter is authentic but was written to another peer.
	ErrNotForMe = errors.New("envelope: letter is addressed to another peer")
	// ErrExpired: the letter is older than Policy.MaxAge.
	ErrExpired = errors.New("envelope: letter expired")
	// ErrFuture: the letter's time is further ahead than Policy.Skew.
	ErrFuture = errors.New("envelope: letter from the future")
	// ErrTooLarge: Seal was given a payload over MaxPayload.
	ErrTooLarge = errors.New("envelope: payload too large")
	// ErrBadKey: a public key is not a usable ed25519 key (wrong length,
	// not a curve point, small order or outside the prime-order subgroup).
	ErrBadKey = errors.New("envelope: bad public key")
)
