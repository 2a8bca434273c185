package app

import (
	"context"
	"errors"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/overlay"
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
	if _, err := Init(ctx, dir, "bob", offline); !errors.Is(err, profile.ErrProfileExists) {
		t.Fatalf("second Init: %v, want ErrProfileExists", err)
	}
	p, err = profile.Open(ctx, dir)
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
	if _, err := profile.Open(ctx, t.TempDir()); !errors.Is(err, profile.ErrNoProfile) {
		t.Fatalf("Open of an empty dir: %v, want ErrNoProfile", err)
	}
}
