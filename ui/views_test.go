package ui

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/parleynet/parley/app"
)

// fixedClock makes the views' clock read day + 1 day for the test.
func fixedClock(t *testing.T) {
	old := now
	now = func() time.Time { return day.Add(24 * time.Hour) }
	t.Cleanup(func() { now = old })
}

// openMain shows a main view over f in a test window of size.
func openMain(t *testing.T, f *fakeBackend, size fyne.Size) (*MainView, fyne.Window) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := test.NewWindow(nil)
	t.Cleanup(w.Close)
	var m *MainView
	onUI(func() {
		m = NewMainView(ctx, f, w, Desktop{})
		w.SetContent(m.Content())
		w.Resize(size)
	})
	waitUntil(t, "contacts shown", func() bool { return len(m.order) > 0 })
	return m, w
}

// settle lets the views' goroutines come back through fyne.Do.
func settle(t *testing.T, cond func() bool) {
	t.Helper()
	waitUntil(t, "view settled", cond)
	time.Sleep(50 * time.Millisecond)
	uiMu.Lock() // let what was queued run
	uiMu.Unlock()
}

// TestGoldenImages renders the main window, a conversation, the
// incoming-call window and the in-call view, light and dark, and compares
// them with testdata/*.png (test.AssertRendersToImage writes what it got
// to testdata/failed/ when they differ).
func TestGoldenImages(t *testing.T) {
	for _, variant := range []struct {
		name string
		v    fyne.ThemeVariant
	}{{"light", theme.VariantLight}, {"dark", theme.VariantDark}} {
		t.Run(variant.name, func(t *testing.T) {
			a := test.NewTempApp(t)
			a.Settings().SetTheme(themeOf(variant.v))
			fixedClock(t)
			f := sampleBackend(0)
			m, w := openMain(t, f, fyne.NewSize(800, 500))
			settle(t, func() bool { return len(m.order) == 3 })
			onUI(func() { test.AssertRendersToImage(t, "main_"+variant.name+".png", w.Canvas()) })

			onUI(func() {
				f.msgs["bob"] = sampleBackend(4).msgs["bob"]
				m.Open("bob")
			})
			settle(t, func() bool { return len(m.conv.items) == 5 })
			onUI(func() { test.AssertRendersToImage(t, "conversation_"+variant.name+".png", w.Canvas()) })

			var in fyne.Window
			onUI(func() {
				m.Apply(app.Update{Call: &app.CallUpdate{Event: "incoming", CallInfo: app.CallInfo{ID: "c2", Username: "bob", Incoming: true, State: "ringing"}}})
				in = m.IncomingCall()
			})
			if in == nil {
				t.Fatal("no incoming-call window")
			}
			onUI(func() { test.AssertRendersToImage(t, "incoming_"+variant.name+".png", in.Canvas()) })

			onUI(func() {
				m.AnswerCall()
				m.Apply(app.Update{Call: &app.CallUpdate{Event: "connected", CallInfo: app.CallInfo{ID: "c2", Username: "bob", Incoming: true, State: "active", Seconds: 83, Relayed: true, Path: "relay"}}})
				m.calls.panel.stop() // no ticking: the image must not depend on timing
				m.calls.panel.level.SetValue(0.4)
			})
			time.Sleep(50 * time.Millisecond)
			onUI(func() { test.AssertRendersToImage(t, "incall_"+variant.name+".png", w.Canvas()) })
		})
	}
}

func TestKeyChangeWarning(t *testing.T) {
	test.NewTempApp(t)
	f := sampleBackend(2)
	m, w := openMain(t, f, fyne.NewSize(800, 500))
	var accept *widget.Button
	onUI(func() {
		m.Open("bob")
		c := f.contacts[0]
		c.KeyChanged = true
		m.Apply(app.Update{Contact: &c})
		if findLabel(w.Content(), "bob's key has changed") {
			accept = findButton(w.Content(), "I checked: accept the new key")
		}
		if r := m.order; !slices.Contains(r, "bob") {
			t.Errorf("bob left the list: %v", r)
		}
	})
	if accept == nil {
		t.Fatal("no key-change warning in the conversation")
	}
	onUI(func() { test.Tap(accept) })
	waitUntil(t, "new key accepted", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.Contains(f.acts, "bob accept-key")
	})
	waitUntil(t, "warning gone", func() bool { return len(m.conv.banner.Objects) == 0 })
}

func TestComposerEnterSendsShiftEnterBreaksLine(t *testing.T) {
	test.NewTempApp(t)
	f := sampleBackend(2)
	m, w := openMain(t, f, fyne.NewSize(800, 500))
	var e *Composer
	onUI(func() {
		m.Open("bob")
		e = m.conv.Composer()
		w.Canvas().Focus(e)
		test.Type(e, "first line")
		e.KeyDown(&fyne.KeyEvent{Name: desktop.KeyShiftLeft})
		e.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
		e.KeyUp(&fyne.KeyEvent{Name: desktop.KeyShiftLeft})
		test.Type(e, "second line")
		if e.Text != "first line\nsecond line" {
			t.Errorf("composer holds %q after Shift+Enter", e.Text)
		}
		e.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	})
	waitUntil(t, "sent", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.sent) == 1
	})
	if f.sent[0] != "first line\nsecond line" || e.Text != "" { // (the send's goroutine is done)
		t.Fatalf("sent %q, composer left with %q", f.sent, e.Text)
	}
}

// TestLongConversationLoadsLazily opens 10,000 messages: the first page
// shows at once, and scrolling to the top loads older pages, keeping
// the order.
func TestLongConversationLoadsLazily(t *testing.T) {
	test.NewTempApp(t)
	f := sampleBackend(10000)
	m, _ := openMain(t, f, fyne.NewSize(800, 600))
	var v *Conversation
	onUI(func() {
		m.Open("bob")
		v = m.conv
	})
	settle(t, func() bool { return len(v.msgs) > 0 && !v.loading })
	if len(v.msgs) > 2*pageSize {
		t.Fatalf("opened with %d messages loaded; want a page or two", len(v.msgs))
	}
	first := len(v.msgs)
	for range 5 {
		var n int
		onUI(func() {
			n = len(v.msgs)
			v.list.ScrollToTop()
		})
		settle(t, func() bool { return len(v.msgs) > n && !v.loading })
	}
	if len(v.msgs) <= first {
		t.Fatal("scrolling up loaded nothing older")
	}
	for i := 1; i < len(v.msgs); i++ {
		if v.msgs[i].Key != v.msgs[i-1].Key+1 {
			t.Fatalf("messages out of order at %d: %d after %d", i, v.msgs[i].Key, v.msgs[i-1].Key)
		}
	}
	if last := v.msgs[len(v.msgs)-1].Key; last != 10000 {
		t.Fatalf("newest message %d, want 10000", last)
	}
	t.Logf("%d messages loaded after 5 scrolls to the top", len(v.msgs))
}

// findButton returns the button labelled text in o, or nil.
func findButton(o fyne.CanvasObject, text string) *widget.Button {
	for _, x := range test.LaidOutObjects(o) {
		if b, ok := x.(*widget.Button); ok && b.Text == text {
			return b
		}
	}
	return nil
}

// findLabel reports whether a label in o contains text.
func findLabel(o fyne.CanvasObject, text string) bool {
	for _, x := range test.LaidOutObjects(o) {
		if l, ok := x.(*widget.Label); ok && strings.Contains(l.Text, text) {
			return true
		}
	}
	return false
}

// overlayButton returns the button labelled text in w's top overlay (a
// dialog), or nil.
func overlayButton(w fyne.Window, text string) *widget.Button {
	top := w.Canvas().Overlays().Top()
	if top == nil {
		return nil
	}
	return findButton(top, text)
}

// BenchmarkOpenLongConversation opens a conversation of 10,000 messages
// (the first page laid out and drawn) and then loads ten older pages, as
// scrolling up does: the view's own cost, with the history in
// memory (reading a page from sqlite is store's benchmark, 0.18 ms).
//
//	go test -run '^$' -bench LongConversation ./ui/
func BenchmarkOpenLongConversation(b *testing.B) {
	test.NewTempApp(b)
	f := sampleBackend(10000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := test.NewWindow(nil)
	defer w.Close()
	var m *MainView
	onUI(func() {
		m = NewMainView(ctx, f, w, Desktop{})
		w.SetContent(m.Content())
		w.Resize(fyne.NewSize(900, 600))
	})
	wait := func(cond func() bool) {
		for {
			done := false
			onUI(func() { done = cond() })
			if done {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	wait(func() bool { return len(m.order) > 0 })
	var open, older time.Duration
	b.ResetTimer()
	for i := range b.N {
		name := []string{"bob", "carol"}[i%2]
		if name == "carol" {
			onUI(func() { m.Open(name) })
			continue
		}
		t0 := time.Now()
		var v *Conversation
		onUI(func() { m.Open(name); v = m.conv })
		wait(func() bool { return len(v.msgs) > 0 && !v.loading })
		onUI(func() { w.Canvas().Refresh(w.Content()); test.WidgetRenderer(v.list) })
		open += time.Since(t0)
		// Ten pages up: the last one costs what the first did.
		for range 10 {
			t1 := time.Now()
			n := 0
			onUI(func() { n = len(v.msgs); v.loadOlder() })
			wait(func() bool { return len(v.msgs) > n && !v.loading })
			older += time.Since(t1)
		}
	}
	opens := float64((b.N + 1) / 2)
	b.ReportMetric(float64(open.Microseconds())/opens/1000, "ms/open")
	b.ReportMetric(float64(older.Microseconds())/opens/10/1000, "ms/older-page")
}
