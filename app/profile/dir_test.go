package profile

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/parleynet/parley/overlay/identity"
)

// dataDirs points the XDG directories into a temporary home and returns
// the old (config) and new (data) profile places.
func dataDirs(t *testing.T) (old, dir string) {
	t.Helper()
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("data and config share a place on " + runtime.GOOS)
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_DATA_HOME", "")
	return filepath.Join(home, ".config", "parley"), filepath.Join(home, ".local", "share", "parley")
}

func TestDefaultDirIsTheDataDir(t *testing.T) {
	_, want := dataDirs(t)
	got, err := DefaultDir()
	if err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	if _, err := os.Stat(got); err == nil {
		t.Error("looking up the directory created it")
	}

	t.Setenv("XDG_DATA_HOME", "/srv/data")
	if got, err := DefaultDir(); err != nil || got != "/srv/data/parley" {
		t.Errorf("with XDG_DATA_HOME=/srv/data: got %q, %v", got, err)
	}
	t.Setenv("XDG_DATA_HOME", "relative/data")
	if got, err := DefaultDir(); err == nil {
		t.Errorf("a relative XDG_DATA_HOME was used: %q", got)
	}
}

func TestDefaultDirIsPerUser(t *testing.T) {
	dataDirs(t)
	alice, _ := DefaultDir()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", "")
	bob, _ := DefaultDir()
	if alice == bob {
		t.Fatalf("two users share %s", alice)
	}
	p, err := newNode(context.Background(), bob)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	fi, err := os.Stat(bob)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("profile directory mode %v, want 0700 (only its user reads it)", fi.Mode().Perm())
	}
}

func TestDefaultDirMovesTheOldProfile(t *testing.T) {
	old, dir := dataDirs(t)
	ctx := context.Background()
	p, err := newNode(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	id := p.Identity.NodeID()
	p.Close()

	got, err := DefaultDir()
	if err != nil || got != dir {
		t.Fatalf("got %q, %v; want the data dir %q", got, err, dir)
	}
	p, err = Open(ctx, got)
	if err != nil {
		t.Fatalf("the moved profile: %v", err)
	}
	if p.Identity.NodeID() != id {
		t.Error("the moved profile has another identity")
	}
	p.Close()
	if target, err := os.Readlink(old); err != nil || target != dir {
		t.Errorf("old place: readlink %q, %v; want a symlink to %s", target, err, dir)
	}
	// Again: nothing moves, the data dir stays.
	if got, err := DefaultDir(); err != nil || got != dir {
		t.Errorf("second call: got %q, %v", got, err)
	}
}

func TestDefaultDirKeepsAnOldProfileInUse(t *testing.T) {
	old, _ := dataDirs(t)
	ctx := context.Background()
	p, err := newNode(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got, err := DefaultDir()
	if err != nil || got != old {
		t.Fatalf("got %q, %v; want the old place %q while a daemon holds it", got, err, old)
	}
	if _, err := os.Stat(filepath.Join(old, DBFile)); err != nil {
		t.Errorf("the profile in use was touched: %v", err)
	}
}

func TestDefaultDirFallsBackWhenTheMoveFails(t *testing.T) {
	old, dir := dataDirs(t)
	ctx := context.Background()
	p, err := newNode(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	// Something else already in the data dir: rename cannot replace it.
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600)
	if got, err := DefaultDir(); err != nil || got != old {
		t.Fatalf("got %q, %v; want the old place %q", got, err, old)
	}
	if _, err := Open(ctx, old); err != nil {
		t.Errorf("the old profile no longer opens: %v", err)
	}
}

func TestDefaultDirPrefersTheDataDir(t *testing.T) {
	old, dir := dataDirs(t)
	ctx := context.Background()
	for _, d := range []string{old, dir} {
		p, err := newNode(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	if got, err := DefaultDir(); err != nil || got != dir {
		t.Fatalf("got %q, %v; want %q", got, err, dir)
	}
	if fi, err := os.Lstat(old); err != nil || !fi.IsDir() {
		t.Errorf("the old profile was touched: %v", err)
	}
}

// newNode makes a profile with a new identity and no username, as a seed's.
func newNode(ctx context.Context, dir string) (*Profile, error) {
	id, err := identity.New(nil)
	if err != nil {
		return nil, err
	}
	return Create(ctx, dir, "", id)
}
