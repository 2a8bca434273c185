package ui

import (
	"context"
	"errors"
	"image/color"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"

	"github.com/parleynet/parley/app"
)

// fakeBackend is a Backend with fixed data, for views that must render
// the same every time (golden images) and for what a real network cannot
// stage quickly (a contact's key changing). Flows through the real peer
// are tested with real peers.
type fakeBackend struct {
	mu       sync.Mutex
	status   app.Status
	contacts []app.ContactInfo
	msgs     map[string][]app.MessageInfo
	calls    map[string][]app.CallLogEntry
	acts     []string
	sent     []string
	levels   float64
}

var _ Backend = (*fakeBackend)(nil)

func (f *fakeBackend) Status() app.Status { return f.status }

func (f *fakeBackend) Contacts(context.Context) ([]app.ContactInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]app.ContactInfo(nil), f.contacts...), nil
}

func (f *fakeBackend) Lookup(_ context.Context, name string) (app.LookupResult, error) {
	return app.LookupResult{}, app.ErrNotFound
}

func (f *fakeBackend) AddContact(_ context.Context, name, _ string) (app.ContactInfo, error) {
	return app.ContactInfo{Username: name, State: "outgoing"}, nil
}

func (f *fakeBackend) Act(_ context.Context, name string, a app.ContactAction) (app.ContactInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acts = append(f.acts, name+" "+string(a))
	for i, c := range f.contacts {
		if c.Username == name {
			if a == app.ActionAcceptKey {
				c.KeyChanged = false
			}
			f.contacts[i] = c
			return c, nil
		}
	}
	return app.ContactInfo{}, app.ErrNoContact
}

func (f *fakeBackend) Send(_ context.Context, name, text string) (app.MessageInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, text)
	return app.MessageInfo{Body: text}, nil
}

func (f *fakeBackend) MessagesBefore(_ context.Context, name string, before *app.MessageInfo, limit int) ([]app.MessageInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	all := f.msgs[name]
	end := len(all)
	if before != nil {
		for i, m := range all {
			if m.Key == before.Key {
				end = i
			}
		}
	}
	start := max(0, end-limit)
	return append([]app.MessageInfo(nil), all[start:end]...), nil
}

func (f *fakeBackend) MarkRead(context.Context, string) error        { return nil }
func (f *fakeBackend) SetTyping(context.Context, string, bool) error { return nil }

func (f *fakeBackend) CallLog(_ context.Context, name string, _ int) ([]app.CallLogEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]app.CallLogEntry(nil), f.calls[name]...), nil
}

func (f *fakeBackend) Call(context.Context, string, app.CallOptions) (app.CallInfo, error) {
	return app.CallInfo{}, errors.New("not in this test")
}
func (f *fakeBackend) AnswerCall(string) error                   { return nil }
func (f *fakeBackend) DeclineCall(string) error                  { return nil }
func (f *fakeBackend) HangUp(string) error                       { return nil }
func (f *fakeBackend) SetCallMuted(string, bool) error           { return nil }
func (f *fakeBackend) SetPresence(context.Context, string) error { return nil }
func (f *fakeBackend) CallLevels(string) (float64, float64, bool) {
	return f.levels, f.levels, true
}

// day is the fixed time the fake conversation happened.
var day = time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)

// sampleBackend is alice's window: three contacts, a conversation with
// bob with a call in it, and a request from dave.
func sampleBackend(messages int) *fakeBackend {
	f := &fakeBackend{
		status: app.Status{Username: "alice", Role: app.RoleLeaf},
		contacts: []app.ContactInfo{
			{Username: "bob", State: "accepted", Presence: "online", Last: "See you at 10", Updated: day.Add(time.Hour), Verified: true,
				Fingerprint: "3f2a 91bc 0d44 e8a1 7c30 5b9e 12fa 66d0", SafetyNumber: "12345 67890 12345 67890 12345 67890 12345 67890 12345 67890 12345 67890"},
			{Username: "carol", State: "accepted", Presence: "away", Last: "Thanks!", Unread: 2, Updated: day.Add(30 * time.Minute)},
			{Username: "erin", State: "accepted", Presence: "offline", Last: "Bye", Updated: day},
			{Username: "dave", State: "incoming", Request: "We met at the conference", Updated: day},
		},
		msgs:  map[string][]app.MessageInfo{},
		calls: map[string][]app.CallLogEntry{},
	}
	texts := []string{"Hi Bob!", "Hi Alice, how are you?", "Fine. Shall we meet tomorrow morning to go over the plan for the release?", "See you at 10"}
	for i := range messages {
		f.msgs["bob"] = append(f.msgs["bob"], app.MessageInfo{
			ID: string(rune('a' + i%26)), Key: int64(i + 1), Incoming: i%2 == 1, Body: texts[i%len(texts)],
			Sent: day.Add(time.Duration(i-messages) * time.Minute), State: map[bool]string{true: "received", false: "read"}[i%2 == 1],
		})
	}
	f.calls["bob"] = []app.CallLogEntry{{ID: "c1", Username: "bob", Started: day.Add(-90 * time.Second), Answered: day.Add(-85 * time.Second), Ended: day.Add(-1 * time.Second), Outcome: "answered"}}
	return f
}

// variantTheme is the default theme in one variant, light or dark, so
// that golden images do not depend on the machine's setting.
type variantTheme struct {
	fyne.Theme
	v fyne.ThemeVariant
}

func (t variantTheme) Color(n fyne.ThemeColorName, _ fyne.ThemeVariant) color.Color {
	return t.Theme.Color(n, t.v)
}

func themeOf(v fyne.ThemeVariant) fyne.Theme { return variantTheme{theme.DefaultTheme(), v} }
