package app

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
	"time"

	_ "modernc.org/sqlite"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/store"
)

// offline are options for a profile made with no network in reach.
var offline = Options{Seeds: []overlay.SeedAddr{{Addr: "127.0.0.1:1"}}}

func TestInitOpenAndUsername(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, err := Init(ctx, dir, "  Alice.Example ", offline)
	if err != nil {
		t.Fatal(err)
	}
	id, name := p.Identity.NodeID(), p.Username
	if name != "alice.example" {
		t.Fatalf("username %q, want case-folded alice.example", name)
	}
	if !strings.Contains(p.Note, "could not be reached") {
		t.Fatalf("no note that the name is not claimed yet: %q", p.Note)
	}
	p.Close()
	if _, err := Init(ctx, dir, "bob", offline); !errors.Is(err, ErrProfileExists) {
		t.Fatalf("second Init: %v, want ErrProfileExists", err)
	}
	p, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Identity.NodeID() != id || p.Username != name {
		t.Fatal("reopened profile has another identity")
	}
	for _, bad := range []string{"", "ab", "1abc", "a b c", "ålice", strings.Repeat("a", 33)} {
		if _, err := NormalizeUsername(bad); !errors.Is(err, ErrBadUsername) {
			t.Errorf("NormalizeUsername(%q) = %v, want ErrBadUsername", bad, err)
		}
	}
	if _, err := Open(ctx, t.TempDir()); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("Open of an empty dir: %v, want ErrNoProfile", err)
	}
}

func TestSecondInstanceRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, err := Init(ctx, dir, "alice", offline)
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
	path := filepath.Join(dir, dbFile)
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
	p, err := Init(ctx, dir, "alice", offline)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	path := filepath.Join(dir, dbFile)
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

func TestStatusOverControlSocket(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snProf, err := InitNode(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer snProf.Close()
	sn, err := NewPeer(snProf, Options{Seed: true, Seeds: []overlay.SeedAddr{}, Listen: "127.0.0.1:0", Control: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- sn.Run(ctx) }()

	dir := t.TempDir()
	if _, err := Dial(dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Dial with no daemon: %v, want ErrNotRunning", err)
	}
	prof, err := Init(ctx, dir, "alice", offline)
	if err != nil {
		t.Fatal(err)
	}
	defer prof.Close()
	leaf, err := NewPeer(prof, Options{Seeds: []overlay.SeedAddr{{Addr: sn.Addr()}}, Control: true})
	if err != nil {
		t.Fatal(err)
	}
	changes, unwatch := leaf.Watch()
	defer unwatch()
	go func() { done <- leaf.Run(ctx) }()

	deadline := time.After(5 * time.Second)
	for leaf.Status().Primary == nil {
		select {
		case <-changes:
		case <-deadline:
			t.Fatal("leaf did not log in")
		}
	}
	var c *Client
	for c == nil {
		if c, err = Dial(dir); err != nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Role != RoleLeaf || st.Username != "alice" || st.NodeID != prof.Identity.NodeID().String() ||
		st.Fingerprint != prof.Fingerprint() || st.Primary == nil || st.Primary.ID != snProf.Identity.NodeID().String() {
		t.Fatalf("status over the socket: %+v", st)
	}
	snc, err := Dial(snProf.Dir)
	if err != nil {
		t.Fatal(err)
	}
	sst, err := snc.Status()
	if err != nil {
		t.Fatal(err)
	}
	if sst.Role != RoleSeed || sst.Supernode == nil || sst.Supernode.Leaves != 1 {
		t.Fatalf("seed status: %+v", sst)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, controlFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("control socket left behind: %v", err)
	}
}
