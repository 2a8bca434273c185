package app

import "errors"

// ErrNotRunning is returned by Dial when no daemon runs on the profile.
var ErrNotRunning = errors.New("app: no Parley daemon is running on this profile")

// ErrBadUsername is returned for a username outside the allowed form.
var ErrBadUsername = errors.New("app: bad username")

// ErrNotFound is returned by a lookup of a name nobody holds.
var ErrNotFound = errors.New("app: not found")
