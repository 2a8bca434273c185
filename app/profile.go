package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/record"
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

// Init creates the profile in dir with a new identity for username, and
// claims the name in the directory. It fails with ErrProfileExists if dir
// already holds a profile and with ErrNameTaken if another key holds the
// name (then nothing is written). If the network cannot be reached, the
// profile is made anyway and Profile.Note says so: the daemon claims the
// name once it is online.
func Init(ctx context.Context, dir, username string, opts Options) (*profile.Profile, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	if err := profile.CheckNew(ctx, dir); err != nil {
		return nil, err
	}
	id, err := identity.New(nil)
	if err != nil {
		return nil, err
	}
	seq, note, err := claimAtInit(ctx, id, name, opts)
	if err != nil {
		return nil, err
	}
	prof, err := profile.Create(ctx, dir, name, id)
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
		Network:  opts.network,
		Seeds:    opts.Seeds,
		Cache:    cache,
		OnChange: func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	}
	if opts.tuneLeaf != nil {
		opts.tuneLeaf(&lc)
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
func InitNode(ctx context.Context, dir string) (*profile.Profile, error) {
	id, err := identity.New(nil)
	if err != nil {
		return nil, err
	}
	p, err := profile.Create(ctx, dir, "", id)
	if errors.Is(err, profile.ErrProfileExists) {
		return profile.Open(ctx, dir)
	}
	return p, err
}
