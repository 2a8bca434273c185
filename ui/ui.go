// Package ui is Parley's desktop interface, built with Fyne. It depends only
// on package app: network goroutines never touch widgets; status changes
// reach the UI through fyne.Do.
package ui

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/assets"
)

// AppID is the application ID, as in FyneApp.toml.
const AppID = "chat.parley.desktop"

// Icon is the application icon as a Fyne resource.
var Icon = fyne.NewStaticResource("icon.png", assets.IconPNG)

// Config is what the window needs to open a profile and run its peer.
type Config struct {
	ProfileDir string
	Options    app.Options
}

// Run opens the main window and runs until it is closed or ctx is done.
func Run(ctx context.Context, cfg Config) error {
	a := fyneapp.NewWithID(AppID)
	a.SetIcon(Icon)
	w := a.NewWindow("Parley")
	w.Resize(fyne.NewSize(480, 320))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := NewSession(ctx, cfg, w)
	context.AfterFunc(ctx, func() { fyne.Do(a.Quit) })
	w.ShowAndRun()
	cancel()
	return s.Wait()
}

// Session is one window's life: first start if the profile is new, then
// the profile's peer running in the background and its status shown.
type Session struct {
	ctx context.Context
	cfg Config
	win fyne.Window

	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error // guarded by errMu: why the peer stopped, if it failed
	status *statusView
}

// NewSession fills win with the first-start form or the status view and,
// once a profile is open, starts its peer.
func NewSession(ctx context.Context, cfg Config, win fyne.Window) *Session {
	s := &Session{ctx: ctx, cfg: cfg, win: win}
	prof, err := app.Open(ctx, cfg.ProfileDir)
	switch {
	case err == nil:
		s.start(prof)
	case errors.Is(err, app.ErrNoProfile):
		win.SetContent(s.firstStart())
	default:
		win.SetContent(errorView(err))
	}
	return s
}

// Wait waits for the peer to stop and returns why, if it failed.
func (s *Session) Wait() error {
	s.wg.Wait()
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// firstStart is the form that creates the profile.
func (s *Session) firstStart() fyne.CanvasObject {
	name := widget.NewEntry()
	name.SetPlaceHolder("username")
	msg := widget.NewLabel("")
	msg.Wrapping = fyne.TextWrapWord
	var create *widget.Button
	create = widget.NewButton("Create profile", func() {
		// Claiming the name waits on the network and a second of proof of
		// work: never on the UI thread.
		username, err := app.NormalizeUsername(name.Text)
		if err != nil {
			msg.SetText(err.Error()) // at once: no need to ask the network
			return
		}
		create.Disable()
		msg.SetText("Claiming your name on the network…")
		go func() {
			prof, err := app.Init(s.ctx, s.cfg.ProfileDir, username, s.cfg.Options)
			fyne.Do(func() {
				create.Enable()
				if err != nil {
					msg.SetText(err.Error())
					return
				}
				s.start(prof)
			})
		}()
	})
	name.OnSubmitted = func(string) { create.OnTapped() }
	return container.NewVBox(
		widget.NewLabelWithStyle("Welcome to Parley", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		widget.NewLabel("Choose the username your contacts will find you by."),
		name, create, msg,
	)
}

// start runs the profile's peer and shows its status.
func (s *Session) start(prof *app.Profile) {
	peer, err := app.NewPeer(prof, s.cfg.Options)
	if err != nil {
		prof.Close()
		s.win.SetContent(errorView(err))
		return
	}
	s.status = newStatusView(peer.Status())
	s.win.SetContent(s.status.root)
	changes, unwatch := peer.Watch()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer prof.Close()
		defer unwatch()
		if err := peer.Run(s.ctx); err != nil {
			s.errMu.Lock()
			s.err = err
			s.errMu.Unlock()
			fyne.Do(func() { s.win.SetContent(errorView(err)) })
		}
	}()
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-changes:
				st := peer.Status()
				fyne.Do(func() { s.status.update(st) })
			}
		}
	}()
}

// StatusText returns what the status view shows now, for tests.
func (s *Session) StatusText() (username, fingerprint, state string) {
	if s.status == nil {
		return "", "", ""
	}
	return s.status.username.Text, s.status.fingerprint.Text, s.status.state.Text
}

type statusView struct {
	root        fyne.CanvasObject
	username    *widget.Label
	fingerprint *widget.Label
	state       *widget.Label
}

func newStatusView(st app.Status) *statusView {
	v := &statusView{
		username:    widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		fingerprint: widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true}),
		state:       widget.NewLabel(""),
	}
	v.fingerprint.Wrapping = fyne.TextWrapWord
	v.root = container.NewVBox(
		v.username,
		widget.NewLabel("Your safety number:"),
		v.fingerprint,
		widget.NewSeparator(),
		v.state,
	)
	v.update(st)
	return v
}

func (v *statusView) update(st app.Status) {
	v.username.SetText(st.Username)
	v.fingerprint.SetText(st.Fingerprint)
	v.state.SetText(StateText(st))
}

// StateText is the one-line connection state shown to the user.
func StateText(st app.Status) string {
	switch {
	case st.Role != app.RoleLeaf:
		return fmt.Sprintf("Serving as a %s on %s", st.Role, st.Listen)
	case st.Primary != nil:
		return fmt.Sprintf("Online via supernode %s (%d standby)", st.Primary.Addr, len(st.Standbys))
	case st.State == "stopped":
		return "Offline"
	}
	return "Connecting…"
}

func errorView(err error) fyne.CanvasObject {
	l := widget.NewLabel("Parley cannot open this profile:\n" + err.Error())
	l.Wrapping = fyne.TextWrapWord
	return container.NewVBox(l)
}
