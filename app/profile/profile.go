// Package profile is a Parley profile on disk: the directory that holds
// a user's database and identity, its lock (one process at a time), where
// it lives on each platform, and its export to and import from a
// password-sealed file. It knows nothing of the network; app opens a
// profile and runs a peer on it.
package profile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/store"
)

// Files inside a profile directory.
const (
	// DBFile is the profile's database.
	DBFile   = "parley.db"
	lockFile = "parley.lock"
)

// Profile is an open, locked profile directory: its database and identity.
// Only one process can hold a profile open at a time.
type Profile struct {
	Dir      string
	DB       *store.DB
	Identity *identity.Identity
	Username string
	// Note is a remark from Init for the user, e.g. that the network was
	// out of reach; empty otherwise.
	Note string
	lock *flock.Flock
}

// Create makes the profile in dir with identity id and username name (""
// for a seed); it fails with ErrProfileExists if dir already holds one.
func Create(ctx context.Context, dir, name string, id *identity.Identity) (*Profile, error) {
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
	if err := p.DB.SaveIdentity(ctx, store.Identity{PrivateKeySeed: id.Seed(), Username: name, CreatedAt: time.Now()}); err != nil {
		p.Close()
		return nil, err
	}
	p.Identity, p.Username = id, name
	return p, nil
}

// CheckNew returns ErrProfileExists if dir holds a profile already, and
// the error of opening it if it cannot be opened (ErrProfileLocked, a
// damaged database); nil if a profile can be made there.
func CheckNew(ctx context.Context, dir string) error {
	p, err := openLocked(dir)
	if err != nil {
		return err
	}
	defer p.Close()
	if _, err := p.DB.Identity(ctx); err == nil {
		return fmt.Errorf("%w in %s", ErrProfileExists, dir)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// Open opens and locks an existing profile. It fails with ErrNoProfile if
// the profile has no identity, ErrProfileLocked if another process holds
// it, and store.ErrCorrupt or store.ErrNewerSchema for a bad database.
func Open(ctx context.Context, dir string) (*Profile, error) {
	if _, err := os.Stat(filepath.Join(dir, DBFile)); errors.Is(err, os.ErrNotExist) {
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
	id, err := identity.FromSeed(ident.PrivateKeySeed)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("profile: %s: %w", dir, err)
	}
	p.Identity, p.Username = id, ident.Username
	return p, nil
}

// openLocked takes the profile lock, then opens the database.
func openLocked(dir string) (*Profile, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("profile: directory: %w", err)
	}
	lk := flock.New(filepath.Join(dir, lockFile))
	ok, err := lk.TryLock()
	if err != nil {
		return nil, fmt.Errorf("profile: lock %s: %w", dir, err)
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
	db, err := store.Open(filepath.Join(dir, DBFile))
	if err != nil {
		lk.Unlock()
		return nil, err
	}
	return &Profile{Dir: dir, DB: db, lock: lk}, nil
}

// NodeID returns the profile's node ID in hex.
func (p *Profile) NodeID() string { return p.Identity.NodeID().String() }

// Fingerprint returns the profile's safety number.
func (p *Profile) Fingerprint() string { return p.Identity.Fingerprint() }

// Close closes the database and releases the lock.
func (p *Profile) Close() error {
	err := p.DB.Close()
	p.lock.Unlock()
	return err
}

// settingSupernodeRole holds the user's choice about serving as a
// supernode: "off" switches the role off; anything else (or nothing) allows
// it, subject to the election.
const settingSupernodeRole = "supernode_role"

// SupernodeRoleOff reports whether the user switched the supernode role off.
func (p *Profile) SupernodeRoleOff(ctx context.Context) (bool, error) {
	v, err := p.DB.Setting(ctx, settingSupernodeRole)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return v == "off", err
}

// SetSupernodeRole allows (on) or forbids serving as a supernode.
func (p *Profile) SetSupernodeRole(ctx context.Context, on bool) error {
	v := "on"
	if !on {
		v = "off"
	}
	return p.DB.SetSetting(ctx, settingSupernodeRole, v)
}
