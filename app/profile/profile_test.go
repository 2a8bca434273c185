package profile

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/store"
)

// newUser makes a profile for name with a new identity.
func newUser(ctx context.Context, dir, name string) (*Profile, error) {
	id, err := identity.New(nil)
	if err != nil {
		return nil, err
	}
	return Create(ctx, dir, name, id)
}

// TestCreateOpen: a profile opens with the identity it was made with; a
// second Create there is refused, and CheckNew says so.
func TestCreateOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := CheckNew(ctx, dir); err != nil {
		t.Fatalf("CheckNew of an empty dir: %v", err)
	}
	p, err := newUser(ctx, dir, "alice")
	if err != nil {
		t.Fatal(err)
	}
	node, fp := p.NodeID(), p.Fingerprint()
	p.Close()
	if err := CheckNew(ctx, dir); !errors.Is(err, ErrProfileExists) {
		t.Fatalf("CheckNew of a profile: %v, want ErrProfileExists", err)
	}
	if _, err := newUser(ctx, dir, "bob"); !errors.Is(err, ErrProfileExists) {
		t.Fatalf("a second Create: %v, want ErrProfileExists", err)
	}
	p, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.NodeID() != node || p.Fingerprint() != fp || p.Username != "alice" {
		t.Fatalf("reopened as %s %q, made as %s", p.NodeID(), p.Username, node)
	}
	if _, err := Open(ctx, t.TempDir()); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("Open of an empty dir: %v, want ErrNoProfile", err)
	}
}

func TestSecondInstanceRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, err := newUser(ctx, dir, "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, dir)
	if !errors.Is(err, ErrProfileLocked) {
		t.Fatalf("second Open: %v, want ErrProfileLocked", err)
	}
	if !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("error %q does not name the holder's pid", err)
	}
	p.Close()
	p, err = Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	p.Close()
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestCorruptDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DBFile)
	junk := []byte(strings.Repeat("this is not a database ", 400))
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, path)
	_, err := Open(context.Background(), dir)
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open: %v, want store.ErrCorrupt", err)
	}
	if fileSum(t, path) != before {
		t.Fatal("a corrupt database was modified by the failed open")
	}
	// The lock is released after the failure.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestNewerSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, err := newUser(ctx, dir, "alice")
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	path := filepath.Join(dir, DBFile)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := fileSum(t, path)
	_, err = Open(ctx, dir)
	if !errors.Is(err, store.ErrNewerSchema) {
		t.Fatalf("Open: %v, want store.ErrNewerSchema", err)
	}
	if fileSum(t, path) != before {
		t.Fatal("a newer database was modified by the failed open")
	}
}
