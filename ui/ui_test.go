package ui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/call/audio/device"
	"github.com/parleynet/parley/internal/testutil"
)

// startSeed runs a seed peer on loopback for the windows to log in to.
func startSeed(t *testing.T, ctx context.Context) *app.Peer {
	t.Helper()
	prof, err := app.InitNode(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prof.Close() })
	p, err := app.NewPeer(prof, app.Options{Seed: true, Seeds: app.Seeds{}, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	go p.Run(ctx)
	return p
}

// waitUntil waits for cond, checked on the UI goroutine, for up to 30 s:
// a first start does the username's real proof of work (about a second,
// but a random amount, and several times that under the race detector).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.EventuallyEvery(t, 30*time.Second, 20*time.Millisecond, what, func() bool {
		done := false
		onUI(func() { done = cond() })
		return done
	})
}

// onUI runs fn as if on the UI thread: serialised with the views'
// callbacks (see uiMu).
func onUI(fn func()) {
	uiMu.Lock()
	defer uiMu.Unlock()
	fn()
}

// find returns the first widget of type T in the window's content.
func find[T any](t *testing.T, w fyne.Window) T {
	t.Helper()
	var found T
	ok := false
	for _, o := range test.LaidOutObjects(w.Content()) {
		if x, is := o.(T); is && !ok {
			found, ok = x, true
		}
	}
	if !ok {
		t.Fatalf("no %T in the window", found)
	}
	return found
}

// seedsOf is the seed at addr.
func seedsOf(t testing.TB, addr string) app.Seeds {
	t.Helper()
	seeds, err := app.ParseSeeds([]string{addr})
	if err != nil {
		t.Fatal(err)
	}
	return seeds
}

// peerOptions are the options of a test user's peer: loopback, quick
// retries, and a tone for a microphone.
func peerOptions(t testing.TB, seed string, hz float64) app.Options {
	t.Helper()
	media, err := device.FileMedia(fmt.Sprintf("tone:%g", hz), "")
	if err != nil {
		t.Fatal(err)
	}
	return app.Options{Seeds: seedsOf(t, seed), Listen: "127.0.0.1:0", NoSupernode: true, LetterRetry: 100 * time.Millisecond, Media: media}
}

// user is one person's window on a profile made beforehand.
type user struct {
	s *Session
	w fyne.Window
}

func (u *user) main() *MainView { return u.s.Main() }

// newUser makes a profile for name and opens a window on it.
func newUser(t *testing.T, ctx context.Context, seed, name string, hz float64) *user {
	t.Helper()
	dir := t.TempDir()
	opts := peerOptions(t, seed, hz)
	prof, err := app.Init(ctx, dir, name, opts)
	if err != nil {
		t.Fatal(err)
	}
	prof.Close()
	w := test.NewWindow(nil)
	w.Resize(fyne.NewSize(800, 500))
	t.Cleanup(w.Close)
	var s *Session
	onUI(func() { s = NewSession(ctx, Config{ProfileDir: dir, Options: opts}, w) })
	u := &user{s: s, w: w}
	waitUntil(t, name+" online", func() bool { return strings.Contains(u.main().me.Text, "Online") })
	return u
}

func TestFirstStartFreeAndTakenNames(t *testing.T) {
	test.NewTempApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seed := startSeed(t, ctx)
	opts := app.Options{Seeds: seedsOf(t, seed.Addr()), Listen: "127.0.0.1:0", NoSupernode: true}

	w := test.NewWindow(nil)
	defer w.Close()
	var s *Session
	onUI(func() {
		s = NewSession(ctx, Config{ProfileDir: t.TempDir(), Options: opts}, w)
		entry := find[*widget.Entry](t, w)
		create := findButton(w.Content(), "Create profile")
		// A bad name is refused at once with the rule.
		test.Type(entry, "x")
		test.Tap(create)
		if !findLabel(w.Content(), "3 to 32 letters") {
			t.Error("no message for a bad username")
		}
		entry.SetText("")
		test.Type(entry, "Alice")
		test.Tap(create)
	})
	// The new identity's safety number, then the main window.
	waitUntil(t, "welcome page", func() bool { return findButton(w.Content(), "Continue") != nil })
	onUI(func() {
		if !findLabel(w.Content(), "You are alice") {
			t.Error("welcome page does not name the user")
		}
		test.Tap(findButton(w.Content(), "Continue"))
	})
	waitUntil(t, "online", func() bool {
		_, _, state := s.StatusText()
		return strings.Contains(state, "Online via supernode "+seed.Addr())
	})
	var user, fp string
	onUI(func() { user, fp, _ = s.StatusText() })
	if user != "alice" || len(strings.Fields(fp)) != 12 {
		t.Errorf("shown %q with safety number %q", user, fp)
	}

	// Someone else on another computer wants "alice" too: taken.
	w2 := test.NewWindow(nil)
	defer w2.Close()
	onUI(func() {
		NewSession(ctx, Config{ProfileDir: t.TempDir(), Options: opts}, w2)
		test.Type(find[*widget.Entry](t, w2), "alice")
		test.Tap(findButton(w2.Content(), "Create profile"))
	})
	waitUntil(t, "taken message", func() bool { return findLabel(w2.Content(), "The username alice is taken") })
	cancel()
	if err := s.Wait(); err != nil {
		t.Fatalf("peer stopped with %v", err)
	}
}

// offlineProfile makes a profile for name whose peer cannot reach any
// seed, for what needs no network; it returns the directory, the options
// and the safety number.
func offlineProfile(t *testing.T, ctx context.Context, name string) (string, app.Options, string) {
	t.Helper()
	dir := t.TempDir()
	opts := app.Options{Seeds: seedsOf(t, "127.0.0.1:1"), Listen: "127.0.0.1:0", NoSupernode: true}
	prof, err := app.Init(ctx, dir, name, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer prof.Close()
	return dir, opts, prof.Fingerprint()
}

func TestExistingProfileOpensAndLockedProfileSaysSo(t *testing.T) {
	test.NewTempApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, opts, fp := offlineProfile(t, ctx, "bob")
	w := test.NewWindow(nil)
	defer w.Close()
	// Seeds that refuse: the window shows the profile and "Connecting…".
	var s *Session
	var user, shownFP, state string
	onUI(func() {
		s = NewSession(ctx, Config{ProfileDir: dir, Options: opts}, w)
		user, shownFP, state = s.StatusText()
	})
	if user != "bob" || shownFP != fp || !strings.Contains(state, "Connecting…") {
		t.Fatalf("shown %q %q %q", user, shownFP, state)
	}
	w2 := test.NewWindow(nil)
	defer w2.Close()
	onUI(func() {
		NewSession(ctx, Config{ProfileDir: dir}, w2)
		if !findLabel(w2.Content(), "in use by another Parley process") {
			t.Error("second window does not say the profile is in use")
		}
	})
	cancel()
	s.Wait()
}

// TestAddAcceptAndChat: alice finds bob and asks; bob accepts from his
// requests; they write to each other; alice sees hers read.
func TestAddAcceptAndChat(t *testing.T) {
	test.NewTempApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seed := startSeed(t, ctx)
	alice := newUser(t, ctx, seed.Addr(), "alice", 440)
	bob := newUser(t, ctx, seed.Addr(), "bob", 660)

	am := alice.main()
	onUI(func() {
		am.search.SetText("bob")
		am.find()
	})
	waitUntil(t, "add dialog", func() bool { return overlayButton(alice.w, "Send request") != nil })
	onUI(func() {
		top := alice.w.Canvas().Overlays().Top()
		for _, o := range test.LaidOutObjects(top) {
			if e, ok := o.(*widget.Entry); ok && e.MultiLine {
				e.SetText("It's Alice from work")
			}
		}
		test.Tap(overlayButton(alice.w, "Send request"))
	})

	bm := bob.main()
	waitUntil(t, "bob sees the request", func() bool { return findLabel(bm.reqBox, "alice wants to add you: “It's Alice from work”") })
	onUI(func() { test.Tap(findButton(bm.reqBox, "Accept")) })
	waitUntil(t, "alice sees bob accepted", func() bool {
		c, ok := am.contacts["bob"]
		return ok && c.State == "accepted" && slices.Contains(am.order, "bob")
	})
	waitUntil(t, "bob's request card gone", func() bool { return !bm.reqCard.Visible() && slices.Contains(bm.order, "alice") })

	// Bob's window is in the background (accepting opened the
	// conversation): the message counts as unread until he comes back.
	var notified []string
	onUI(func() {
		bob.s.focused = false
		bm.desk.PlaySound = func(name string, _ bool) func() { notified = append(notified, name); return func() {} }
	})
	// Alice writes; Enter sends.
	onUI(func() {
		am.Open("bob")
		e := am.conv.Composer()
		e.SetText("Hello Bob")
		e.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	})
	waitUntil(t, "bob has an unread message", func() bool {
		return bm.contacts["alice"].Unread == 1 && bm.contacts["alice"].Last == "Hello Bob" && slices.Contains(notified, "message")
	})
	onUI(func() {
		bob.s.focused = true
		bm.FocusGained()
	})
	waitUntil(t, "bob reads it", func() bool { return bm.conv != nil && slices.Contains(bm.conv.Items(), "Hello Bob") })
	waitUntil(t, "alice sees it read", func() bool {
		v := am.conv
		return v != nil && len(v.msgs) == 1 && v.msgs[0].State == "read"
	})
	// Bob types: alice sees it, then his answer.
	onUI(func() { test.Type(bm.conv.Composer(), "Hi") })
	waitUntil(t, "typing indicator", func() bool { return am.conv.Typing() == "bob is typing…" })
	onUI(func() { bm.conv.Composer().TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn}) })
	waitUntil(t, "alice gets the answer", func() bool { return slices.Contains(am.conv.Items(), "Hi") && am.conv.Typing() == "" })
}

// TestIncomingCallDeclinedThenAccepted: bob declines alice's first call
// and accepts the second; both see the call, then both log it.
func TestIncomingCallDeclinedThenAccepted(t *testing.T) {
	test.NewTempApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seed := startSeed(t, ctx)
	alice := newUser(t, ctx, seed.Addr(), "alice", 440)
	bob := newUser(t, ctx, seed.Addr(), "bob", 660)
	am, bm := alice.main(), bob.main()
	// Contacts through the window's own actions.
	onUI(func() { am.Add("bob", "") })
	waitUntil(t, "request", func() bool { return slices.Contains(bm.requests, "alice") })
	onUI(func() { bm.act("alice", app.ActionAccept) })
	waitUntil(t, "accepted", func() bool { return am.contacts["bob"].State == "accepted" })

	var played []string
	var mu sync.Mutex
	bm.desk.PlaySound = func(name string, loop bool) func() {
		mu.Lock()
		played = append(played, name)
		mu.Unlock()
		return func() {}
	}

	onUI(func() {
		am.Open("bob")
		test.Tap(am.conv.callBtn)
	})
	waitUntil(t, "bob's phone rings", func() bool { return bm.IncomingCall() != nil })
	onUI(func() {
		if !findLabel(bm.IncomingCall().Content(), "alice") {
			t.Error("incoming-call window does not name the caller")
		}
	})
	onUI(func() { test.Tap(findButton(bm.IncomingCall().Content(), "Decline")) })
	waitUntil(t, "alice sees the call declined", func() bool {
		return am.conv != nil && slices.Contains(am.conv.Items(), "Outgoing call · declined") && am.InCall() == ""
	})
	mu.Lock()
	if !slices.Contains(played, "ring") {
		t.Errorf("no ringtone played: %v", played)
	}
	mu.Unlock()

	onUI(func() { test.Tap(am.conv.callBtn) })
	waitUntil(t, "bob's phone rings again", func() bool { return bm.IncomingCall() != nil })
	onUI(func() { test.Tap(findButton(bm.IncomingCall().Content(), "Accept")) })
	waitUntil(t, "both talking", func() bool {
		return am.InCall() != "" && !strings.Contains(am.InCall(), "…") && bm.InCall() != "" && !strings.Contains(bm.InCall(), "…")
	})
	// The microphone meter moves (a tone at 0.3 of full scale).
	waitUntil(t, "level meter", func() bool { return am.calls.panel != nil && am.calls.panel.level.Value > 0 })
	onUI(func() { bm.HangUp() })
	waitUntil(t, "both logged it", func() bool {
		return am.InCall() == "" && bm.InCall() == "" && hasPrefix(am.conv.Items(), "Outgoing call · 0:") && bm.conv != nil && hasPrefix(bm.conv.Items(), "Incoming call · 0:")
	})
}

func hasPrefix(items []string, p string) bool {
	return slices.ContainsFunc(items, func(s string) bool { return strings.HasPrefix(s, p) })
}

func TestSettingsSaved(t *testing.T) {
	test.NewTempApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, opts, _ := offlineProfile(t, ctx, "carol")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	w := test.NewWindow(nil)
	defer w.Close()
	var applied []app.Settings
	cfg := Config{ProfileDir: dir, Options: opts, ApplySettings: func(s app.Settings) { applied = append(applied, s) },
		Desktop: Desktop{InputDevices: func() ([]string, error) { return []string{"USB Headset Mic"}, nil }}}
	var s *Session
	var v *SettingsView
	onUI(func() {
		s = NewSession(ctx, cfg, w)
		s.ShowSettings()
		v = s.SettingsView()
	})
	waitUntil(t, "devices listed", func() bool { return slices.Contains(v.Input.Options, "USB Headset Mic") })
	onUI(func() {
		v.Input.SetSelected("USB Headset Mic")
		v.Seeds.SetText("127.0.0.1:4717\nseed.example.org:4717")
		v.NotifyMsgs.SetChecked(false)
		v.Supernode.SetChecked(false)
		v.StartAtLogin.SetChecked(true)
		test.Tap(overlayButton(w, "Save"))
	})
	cancel()
	s.Wait()

	prof, err := profile.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer prof.Close()
	set, err := app.LoadSettings(context.Background(), prof)
	if err != nil {
		t.Fatal(err)
	}
	if set.InputDevice != "USB Headset Mic" || set.NotifyMessages || !set.NotifyCalls || !set.StartAtLogin ||
		!slices.Equal(set.Seeds, []string{"127.0.0.1:4717", "seed.example.org:4717"}) {
		t.Fatalf("settings stored: %+v", set)
	}
	if off, _ := prof.SupernodeRoleOff(context.Background()); !off {
		t.Error("supernode role still on")
	}
	if len(applied) != 2 || applied[0].InputDevice != "" || applied[1].InputDevice != "USB Headset Mic" {
		t.Errorf("settings applied at start and on saving: %+v", applied)
	}
	// Start at login wrote the autostart entry for this profile.
	if !autostartNames(t, dir) {
		t.Error("no autostart entry")
	}
	// A bad seed is refused with a clear error, nothing stored.
	if err := app.SaveSettings(context.Background(), prof, app.Settings{Seeds: []string{"no port here"}}); err == nil {
		t.Error("a bad seed was stored")
	}
}

// autostartNames reports whether the autostart entry starts this profile.
func autostartNames(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "autostart", "chat.parley.desktop"))
	return err == nil && strings.Contains(string(b), dir) && strings.Contains(string(b), "--minimized")
}

// TestImportProfileOnFirstStart moves a profile to a "new computer": the
// export, imported with a wrong password, is refused and nothing is made;
// with the right one the main window opens on the same identity and its
// contacts.
func TestImportProfileOnFirstStart(t *testing.T) {
	test.NewTempApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := app.Options{Seeds: seedsOf(t, "127.0.0.1:1"), Listen: "127.0.0.1:0", NoSupernode: true}
	old := t.TempDir()
	prof, err := app.Init(ctx, old, "dora", opts)
	if err != nil {
		t.Fatal(err)
	}
	fp := prof.Fingerprint()
	file := filepath.Join(t.TempDir(), "dora.parley")
	if err := profile.ExportFile(ctx, prof, file, "correct horse battery", app.Version); err != nil {
		t.Fatal(err)
	}
	prof.Close()

	dir := filepath.Join(t.TempDir(), "new")
	w := test.NewWindow(nil)
	defer w.Close()
	var s *Session
	onUI(func() { s = NewSession(ctx, Config{ProfileDir: dir, Options: opts}, w) })
	open := func() *os.File {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	onUI(func() { s.ImportFrom(open(), "wrong password") })
	waitUntil(t, "wrong password refused", func() bool { return s.importErr != nil })
	if !errors.Is(s.importErr, profile.ErrWrongPassword) || s.Main() != nil {
		t.Fatalf("import with a wrong password: %v", s.importErr)
	}
	if _, err := os.Stat(filepath.Join(dir, "parley.db")); err == nil {
		t.Fatal("a refused import left a database")
	}
	onUI(func() { s.ImportFrom(open(), "correct horse battery") })
	waitUntil(t, "main window", func() bool { return s.Main() != nil })
	var user, shown string
	onUI(func() { user, shown, _ = s.StatusText() })
	if user != "dora" || shown != fp {
		t.Fatalf("imported profile shows %q %q, want dora %q", user, shown, fp)
	}
	cancel()
	s.Wait()
}
