package app

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

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
	"github.com/parleynet/parley/store"
)

// Files inside a profile directory.
const (
	dbFile   = "parley.db"
	lockFile = "parley.lock"
)

// NormalizeUsername case-folds name and checks its form (see
// record.NormalizeName: 3 to 32 letters, digits, '.', '_' or '-',
// starting with a letter).
func NormalizeUsername(name string) (string, error) {
	n, err := record.NormalizeName(name)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadUsername, err)
	}
	return n, nil
}

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

// Init creates the profile in dir with a new identity for username, and
// claims the name in the directory. It fails with ErrProfileExists if dir
// already holds a profile and with ErrNameTaken if another key holds the
// name (then nothing is written). If the network cannot be reached, the
// profile is made anyway and Profile.Note says so: the daemon claims the
// name once it is online.
func Init(ctx context.Context, dir, username string, opts Options) (*Profile, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	p, err := openLocked(dir)
	if err != nil {
		return nil, err
	}
	if _, err := p.DB.Identity(ctx); err == nil {
		p.Close()
		return nil, fmt.Errorf("%w in %s", ErrProfileExists, dir)
	}
	p.Close()
	id, err := identity.New(nil)
	if err != nil {
		return nil, err
	}
	seq, note, err := claimAtInit(ctx, id, name, opts)
	if err != nil {
		return nil, err
	}
	prof, err := create(ctx, dir, name, id)
	if err != nil {
		return nil, err
	}
	prof.Note = note
	if seq != 0 {
		prof.DB.SetSetting(ctx, settingClaimSeq, strconv.FormatUint(seq, 10))
	}
	return prof, nil
}

// errOffline is returned by withTempLeaf when no supernode could be reached.
var errOffline = errors.New("app: the network could not be reached")

// withTempLeaf logs id in with a throwaway leaf (through cache, if not nil,
// then the seeds) and runs fn with it once it is online, with the claim
// difficulty the leaf checks. It returns errOffline if the leaf could not
// log in within 30 s or a round of logins failed.
func withTempLeaf(ctx context.Context, id *identity.Identity, opts Options, cache overlay.HostCache, fn func(*overlay.Leaf, int) error) error {
	if opts.Seeds == nil {
		opts.Seeds = overlay.MustParseSeeds(overlay.DefaultSeeds)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	changed := make(chan struct{}, 1)
	lc := overlay.LeafConfig{
		Identity: id,
		Network:  opts.Network,
		Seeds:    opts.Seeds,
		Cache:    cache,
		OnChange: func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	}
	if opts.TuneLeaf != nil {
		opts.TuneLeaf(&lc)
	}
	leaf, err := overlay.NewLeaf(lc)
	if err != nil {
		return err
	}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); leaf.Run(lctx) }()
	defer func() { stop(); <-done }()
	for {
		st := leaf.Status()
		if st.Primary != nil {
			break
		}
		if st.FailedRounds > 0 {
			return errOffline
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return errOffline
		}
	}
	difficulty := lc.ClaimDifficulty
	if difficulty == 0 {
		difficulty = record.DefaultClaimDifficulty
	}
	return fn(leaf, difficulty)
}

// claimAtInit logs in with a throwaway leaf and claims name. It returns the
// claim's sequence number, or 0 and a note when the network was out of reach.
func claimAtInit(ctx context.Context, id *identity.Identity, name string, opts Options) (uint64, string, error) {
	seq := uint64(time.Now().UnixMilli())
	err := withTempLeaf(ctx, id, opts, nil, func(leaf *overlay.Leaf, difficulty int) error {
		return claimOnce(ctx, leaf, id, name, seq, difficulty)
	})
	switch {
	case err == nil:
		return seq, "", nil
	case errors.Is(err, errOffline):
		return 0, "the network could not be reached: the name will be claimed when the daemon first connects", nil
	case errors.Is(err, ErrNameTaken):
		return 0, "", err
	}
	return 0, "the directory did not take the claim (" + err.Error() + "): the daemon will retry", nil
}

// InitNode creates a profile with a new identity and no username, as seeds
// use; an existing profile is opened as it is.
func InitNode(ctx context.Context, dir string) (*Profile, error) {
	id, err := identity.New(nil)
	if err != nil {
		return nil, err
	}
	p, err := create(ctx, dir, "", id)
	if errors.Is(err, ErrProfileExists) {
		return Open(ctx, dir)
	}
	return p, err
}

func create(ctx context.Context, dir, name string, id *identity.Identity) (*Profile, error) {
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
	id, err := identity.FromSeed(ident.PrivateKeySeed)
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
