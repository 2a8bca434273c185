package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/store"
)

// Files inside a profile directory.
const (
	dbFile      = "parley.db"
	lockFile    = "parley.lock"
	controlFile = "control.sock"
)

// DefaultProfileDir returns the platform's per-user place for the profile:
// $XDG_CONFIG_HOME/parley on Linux, %AppData%\parley on Windows,
// ~/Library/Application Support/parley on macOS.
func DefaultProfileDir() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("app: no user config directory: %w", err)
	}
	return filepath.Join(dir, "parley"), nil
}

// usernameRE is the form of a username: 3 to 32 characters, lower-case
// letters, digits, '.', '_' and '-', starting with a letter. Names are
// case-folded before the check.
var usernameRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{2,31}$`)

// NormalizeUsername case-folds name and checks its form.
func NormalizeUsername(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if !usernameRE.MatchString(n) {
		return "", fmt.Errorf("%w %q: use 3 to 32 characters: letters, digits, '.', '_' or '-', starting with a letter", ErrBadUsername, name)
	}
	return n, nil
}

// Profile is an open, locked profile directory: its database and identity.
// Only one process can hold a profile open at a time.
type Profile struct {
	Dir      string
	DB       *store.DB
	Identity *overlay.Identity
	Username string
	lock     *flock.Flock
}

// Init creates the profile in dir with a new identity for username. It
// fails with ErrProfileExists if dir already holds one.
func Init(ctx context.Context, dir, username string) (*Profile, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	return create(ctx, dir, name)
}

// InitNode creates a profile with a new identity and no username, as seeds
// use; an existing profile is opened as it is.
func InitNode(ctx context.Context, dir string) (*Profile, error) {
	p, err := create(ctx, dir, "")
	if errors.Is(err, ErrProfileExists) {
		return Open(ctx, dir)
	}
	return p, err
}

func create(ctx context.Context, dir, name string) (*Profile, error) {
	p, err := openLocked(dir)
	if err != nil {
		return nil, err
	}
	if _, err := p.DB.Identity(ctx); err == nil {
		p.Close()
		return nil, fmt.Errorf("%w in %s", ErrProfileExists, dir)
	} else if !errors.Is(err, store.ErrNotFound) {
		p.Close()
		return nil, err
	}
	id, err := overlay.NewIdentity(nil)
	if err != nil {
		p.Close()
		return nil, err
	}
	if err := p.DB.SaveIdentity(ctx, store.Identity{PrivateKeySeed: id.Seed(), Username: name, CreatedAt: time.Now()}); err != nil {
		p.Close()
		return nil, err
	}
	p.Identity, p.Username = id, name
	return p, nil
}

// Open opens and locks an existing profile. It fails with ErrNoProfile if
// the profile has no identity, ErrProfileLocked if another process holds
// it, and store.ErrCorrupt or store.ErrNewerSchema for a bad database.
func Open(ctx context.Context, dir string) (*Profile, error) {
	if _, err := os.Stat(filepath.Join(dir, dbFile)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (run 'parley init' first)", ErrNoProfile, dir)
	}
	p, err := openLocked(dir)
	if err != nil {
		return nil, err
	}
	ident, err := p.DB.Identity(ctx)
	if errors.Is(err, store.ErrNotFound) {
		p.Close()
		return nil, fmt.Errorf("%w: %s (run 'parley init' first)", ErrNoProfile, dir)
	} else if err != nil {
		p.Close()
		return nil, err
	}
	id, err := overlay.IdentityFromSeed(ident.PrivateKeySeed)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("app: profile %s: %w", dir, err)
	}
	p.Identity, p.Username = id, ident.Username
	return p, nil
}

// openLocked takes the profile lock, then opens the database.
func openLocked(dir string) (*Profile, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("app: profile directory: %w", err)
	}
	lk := flock.New(filepath.Join(dir, lockFile))
	ok, err := lk.TryLock()
	if err != nil {
		return nil, fmt.Errorf("app: lock profile %s: %w", dir, err)
	}
	if !ok {
		holder := ""
		if b, err := os.ReadFile(filepath.Join(dir, lockFile)); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		return nil, fmt.Errorf("%w%s: %s", ErrProfileLocked, holder, dir)
	}
	// Record the holder for the message above; the lock is the flock, not the content.
	if f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
		f.Close()
	}
	db, err := store.Open(filepath.Join(dir, dbFile))
	if err != nil {
		lk.Unlock()
		return nil, err
	}
	return &Profile{Dir: dir, DB: db, lock: lk}, nil
}

// Fingerprint returns the profile's safety number.
func (p *Profile) Fingerprint() string { return p.Identity.Fingerprint() }

// Close closes the database and releases the lock.
func (p *Profile) Close() error {
	err := p.DB.Close()
	p.lock.Unlock()
	return err
}
