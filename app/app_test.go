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
