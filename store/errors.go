package store

import "errors"

// ErrNewerSchema is returned (wrapped) by Open when the database file was
// written by a newer version of Parley: its schema version is greater than
// the number of migrations this binary knows. The file is left untouched; the
// user has to upgrade Parley to use this profile.
var ErrNewerSchema = errors.New("store: database schema is newer than this Parley")

// ErrCorrupt is returned (wrapped) by Open when the file is not a valid
// Parley database: it is not an SQLite database at all, SQLite reports it as
// damaged (SQLITE_NOTADB, SQLITE_CORRUPT or a failed PRAGMA quick_check), or
// it is an SQLite database that belongs to some other application. The file
// is left byte-for-byte untouched so that it can be inspected or recovered.
var ErrCorrupt = errors.New("store: not a valid Parley database")

// ErrNotFound is returned (wrapped) when a requested record, such as the
// identity or a setting, does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrIdentityExists is returned (wrapped) by SaveIdentity when the profile
// already has an identity. A profile's identity is never replaced.
var ErrIdentityExists = errors.New("store: identity already exists")

// ErrExists is returned (wrapped) when a record cannot be added or changed
// because it would duplicate one that already exists: a second contact with
// the same username or node ID, a second message with the same author and
// message ID, or a second call with the same call ID.
var ErrExists = errors.New("store: already exists")

// storeError is an error with its own message that also matches one or more
// sentinel and cause errors with errors.Is and errors.As.
type storeError struct {
	msg  string
	errs []error
}

func (e *storeError) Error() string   { return e.msg }
func (e *storeError) Unwrap() []error { return e.errs }

// newError returns an error with message msg that wraps every non-nil error
// in errs.
func newError(msg string, errs ...error) error {
	var keep []error
	for _, err := range errs {
		if err != nil {
			keep = append(keep, err)
		}
	}
	return &storeError{msg: msg, errs: keep}
}
