package app

import "errors"

// ErrProfileLocked is returned when another Parley process has the profile open.
var ErrProfileLocked = errors.New("app: profile is in use by another Parley process")

// ErrNoProfile is returned when a profile has no identity yet (run init).
var ErrNoProfile = errors.New("app: no profile here yet")

// ErrProfileExists is returned by Init when the profile already has an
// identity, and by ImportProfile when the directory already holds a
// profile.
var ErrProfileExists = errors.New("app: profile already exists")

// ErrNotRunning is returned by Dial when no daemon runs on the profile.
var ErrNotRunning = errors.New("app: no Parley daemon is running on this profile")

// ErrBadUsername is returned for a username outside the allowed form.
var ErrBadUsername = errors.New("app: bad username")

// ErrWeakPassword is returned by ExportProfile for a password shorter than
// MinPasswordLen.
var ErrWeakPassword = errors.New("app: the password is too short")

// ErrWrongPassword is returned by ImportProfile when the password does not
// open the export file.
var ErrWrongPassword = errors.New("app: wrong password")

// ErrBadExport is returned by ImportProfile for a file that is not a
// Parley profile export, or is damaged, truncated or not acceptable.
var ErrBadExport = errors.New("app: not a valid Parley profile export")

// ErrNotFound is returned by a lookup of a name nobody holds.
var ErrNotFound = errors.New("app: not found")
