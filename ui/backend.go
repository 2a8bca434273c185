package ui

import (
	"context"
	"sync"
	"time"

	"fyne.io/fyne/v2"

	"github.com/parleynet/parley/app"
)

// Backend is what the window asks of the running peer: *app.Peer's
// methods. Every method but Status and CallLevels may wait on the network
// or the disk, so the UI calls them from goroutines of its own, never on
// the UI thread.
type Backend interface {
	Status() app.Status
	Contacts(ctx context.Context) ([]app.ContactInfo, error)
	Lookup(ctx context.Context, name string) (app.LookupResult, error)
	AddContact(ctx context.Context, name, message string) (app.ContactInfo, error)
	Act(ctx context.Context, name string, action app.ContactAction) (app.ContactInfo, error)
	Send(ctx context.Context, name, text string) (app.MessageInfo, error)
	MessagesBefore(ctx context.Context, name string, before *app.MessageInfo, limit int) ([]app.MessageInfo, error)
	MarkRead(ctx context.Context, name string) error
	SetTyping(ctx context.Context, name string, on bool) error
	CallLog(ctx context.Context, name string, limit int) ([]app.CallLogEntry, error)
	Call(ctx context.Context, name string, o app.CallOptions) (app.CallInfo, error)
	AnswerCall(id string) error
	DeclineCall(id string) error
	HangUp(id string) error
	SetCallMuted(id string, muted bool) error
	CallLevels(id string) (in, out float64, ok bool)
	SetPresence(ctx context.Context, presence string) error
}

var _ Backend = (*app.Peer)(nil)

// Desktop is what the window needs from the desktop around it, beyond
// Fyne: sounds, and the audio devices for the settings. main gives the
// real one; tests give their own.
type Desktop struct {
	// PlaySound plays one of the bundled sounds ("ring" looped until
	// stopped, "message" once) on the output device; stop ends it. Nil:
	// silent.
	PlaySound func(name string, loop bool) (stop func())
	// InputDevices and OutputDevices list the sound devices by name.
	InputDevices, OutputDevices func() ([]string, error)
	// TestAudio plays a short tone on output and measures input's level
	// for a moment; it returns the peak level, 0 to 1.
	TestAudio func(input, output string) (float64, error)
}

func (d Desktop) play(name string, loop bool) func() {
	if d.PlaySound == nil {
		return func() {}
	}
	return d.PlaySound(name, loop)
}

// now is the clock of what the views show (tests fix it).
var now = time.Now

func since(t time.Time) time.Duration { return now().Sub(t) }

// uiMu serialises what runs on the UI thread. Under a real driver that
// is one goroutine anyway; Fyne's test driver runs fyne.Do on the
// caller's goroutine, so tests take uiMu too (onUI).
var uiMu sync.Mutex

// do runs fn on the UI thread. Only goroutines other than the UI thread
// call it.
func do(fn func()) {
	fyne.Do(func() {
		uiMu.Lock()
		defer uiMu.Unlock()
		fn()
	})
}
