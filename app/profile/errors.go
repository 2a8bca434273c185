package profile

import "errors"

// ErrProfileLocked is returned when another Parley process has the profile open.
var ErrProfileLocked = errors.New("profile: in use by another Parley process")

// ErrNoProfile is returned when a profile has no identity yet (run init).
var ErrNoProfile = errors.New("profile: none here yet")

// ErrProfileExists is returned by Create and CheckNew when the profile
// already has an identity, and by Import when the directory already holds a
// profile.
var ErrProfileExists = errors.New("profile: already exists")

// ErrWeakPassword is returned by Export for a password shorter than
// MinPasswordLen.
var ErrWeakPassword = errors.New("profile: the password is too short")

// ErrWrongPassword is returned by Import when the password does not
// open the export file.
var ErrWrongPassword = errors.New("profile: wrong password")

// ErrBadExport is returned by Import for a file that is not a
// Parley profile export, or is damaged, truncated or not acceptable.
var ErrBadExport = errors.New("profile: not a valid Parley profile export")
