package app

import "errors"

// ErrNotRunning is returned by Dial when no daemon runs on the profile.
var ErrNotRunning = errors.New("app: no Parley daemon is running on this profile")

// ErrBadUsername is returned for a username outside the allowed form.
var ErrBadUsername = errors.New("app: bad username")

// ErrNotFound is returned by a lookup of a name nobody holds.
var ErrNotFound = errors.New("app: not found")

// ErrNoContact is returned for a username that is not among the contacts.
var ErrNoContact = errors.New("app: no such contact")

// ErrNameTaken is returned when another key holds the username.
var ErrNameTaken = errors.New("app: username is taken")

// ErrNoAudio is returned when a call needs audio this peer does not have.
var ErrNoAudio = errors.New("app: calls need an audio device")

// ErrNoCall is returned for a call ID that names no current call.
var ErrNoCall = errors.New("app: no such call")
