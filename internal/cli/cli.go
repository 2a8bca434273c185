// Package cli holds what the parley and parley-seed commands share: logging
// set-up and the mapping of errors to exit codes.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/store"
)

// Exit codes, stable so that scripts can rely on them.
const (
	ExitOK            = 0
	ExitError         = 1  // anything not listed below
	ExitUsage         = 2  // bad flag or argument
	ExitProfileLocked = 3  // another Parley holds the profile
	ExitCorrupt       = 4  // the profile database is not a valid Parley database
	ExitNewerSchema   = 5  // the profile database was written by a newer Parley
	ExitNoProfile     = 6  // no profile: run 'parley init'
	ExitNotRunning    = 7  // no daemon runs on the profile
	ExitNotFound      = 8  // lookup: no one holds the name
	ExitNameTaken     = 9  // init: another key holds the username
	ExitWrongPassword = 10 // import: the password does not open the file
	ExitBadExport     = 11 // import: not a valid Parley export (damaged, truncated, foreign)
)

// UsageError marks an error in the command line.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// ExitCode returns the exit code for err.
func ExitCode(err error) int {
	var ue UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue), errors.Is(err, flag.ErrHelp), errors.Is(err, app.ErrBadUsername):
		return ExitUsage
	case errors.Is(err, profile.ErrWeakPassword):
		return ExitUsage
	case errors.Is(err, profile.ErrWrongPassword):
		return ExitWrongPassword
	case errors.Is(err, profile.ErrBadExport): // before ErrCorrupt, which it may wrap
		return ExitBadExport
	case errors.Is(err, profile.ErrProfileLocked):
		return ExitProfileLocked
	case errors.Is(err, store.ErrCorrupt):
		return ExitCorrupt
	case errors.Is(err, store.ErrNewerSchema):
		return ExitNewerSchema
	case errors.Is(err, profile.ErrNoProfile):
		return ExitNoProfile
	case errors.Is(err, app.ErrNotRunning):
		return ExitNotRunning
	case errors.Is(err, app.ErrNotFound):
		return ExitNotFound
	case errors.Is(err, app.ErrNameTaken):
		return ExitNameTaken
	}
	return ExitError
}

// Logger returns a text logger on w at the named level (debug, info, warn,
// error). Levels: debug is per-link detail; info is what an operator wants
// to see (logins, failovers, supernodes joining); warn is a peer or file
// misbehaving; error is Parley itself unable to go on.
func Logger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, UsageError{fmt.Errorf("bad log level %q: use debug, info, warn or error", level)}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
