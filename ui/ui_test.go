package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/overlay"
)

// startSeed runs a seed peer on loopback for the window to log in to.
func startSeed(t *testing.T, ctx context.Context) *app.Peer {
	t.Helper()
	prof, err := app.InitNode(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prof.Close() })
	p, err := app.NewPeer(prof, app.Options{Seed: true, Seeds: []overlay.SeedAddr{}, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	go p.Run(ctx)
	return p
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// find returns the first widget of type T in the window's content.
func find[T any](t *testing.T, s *Session) T {
	t.Helper()
	var found T
	ok := false
	for _, o := range test.LaidOutObjects(s.win.Content()) {
		if w, is := o.(T); is && !ok {
			found, ok = w, true
		}
	}
	if !ok {
		t.Fatalf("no %T in the window", found)
	}
	return found
}

func TestFirstStartThenOnline(t *testing.T) {
	test.NewTempApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seed := startSeed(t, ctx)
	w := test.NewWindow(nil)
	defer w.Close()
	dir := t.TempDir()
	s := NewSession(ctx, Config{ProfileDir: dir, Options: app.Options{Seeds: []overlay.SeedAddr{{Addr: seed.Addr()}}}}, w)

	entry := find[*widget.Entry](t, s)
	button := find[*widget.Button](t, s)
	// A bad name is refused with the reason shown.
	test.Type(entry, "x")
	test.Tap(button)
	shown := false
	for _, o := range test.LaidOutObjects(w.Content()) {
		if l, ok := o.(*widget.Label); ok && strings.Contains(l.Text, "3 to 32 characters") {
			shown = true
		}
	}
	if !shown {
		t.Fatal("no message for a bad username")
	}
	entry.SetText("")
	test.Type(entry, "Alice")
	test.Tap(button)

	waitUntil(t, "online state shown", func() bool {
		_, _, state := s.StatusText()
		return strings.HasPrefix(state, "Online via supernode "+seed.Addr())
	})
	user, fp, _ := s.StatusText()
	if user != "alice" {
		t.Errorf("username shown %q, want alice", user)
	}
	if len(strings.Fields(fp)) != 12 {
		t.Errorf("fingerprint shown %q, want 12 groups", fp)
	}
	cancel()
	if err := s.Wait(); err != nil {
		t.Fatalf("peer stopped with %v", err)
	}
}

func TestExistingProfileOpens(t *testing.T) {
	test.NewTempApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	prof, err := app.Init(ctx, dir, "bob", app.Options{Seeds: []overlay.SeedAddr{{Addr: "127.0.0.1:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	fp := prof.Fingerprint()
	prof.Close()
	w := test.NewWindow(nil)
	defer w.Close()
	// Seeds that refuse: the window shows the profile and "Connecting…".
	s := NewSession(ctx, Config{ProfileDir: dir, Options: app.Options{Seeds: []overlay.SeedAddr{{Addr: "127.0.0.1:1"}}}}, w)
	user, shownFP, state := s.StatusText()
	if user != "bob" || shownFP != fp || state != "Connecting…" {
		t.Fatalf("shown %q %q %q", user, shownFP, state)
	}
	// A second window on the same profile explains why it cannot open it.
	w2 := test.NewWindow(nil)
	defer w2.Close()
	NewSession(ctx, Config{ProfileDir: dir}, w2)
	found := false
	for _, o := range test.LaidOutObjects(w2.Content()) {
		if l, ok := o.(*widget.Label); ok && strings.Contains(l.Text, "in use by another Parley process") {
			found = true
		}
	}
	if !found {
		t.Fatal("second window does not say the profile is in use")
	}
	cancel()
	s.Wait()
}
