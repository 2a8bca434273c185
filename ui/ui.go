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
	"github.com/parleynet/parley/app/control"
	"github.com/parleynet/parley/app/profile"
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
	// SeedsGiven says Options.Seeds came from the command line: they win
	// over the seeds in the settings.
	SeedsGiven bool
	// Desktop is the sounds and devices; ApplySettings, if set, is told
	// the settings at start and whenever they are saved.
	Desktop       Desktop
	ApplySettings func(app.Settings)
	// Minimized starts with the window hidden in the tray (start at login).
	Minimized bool
	// OnReady, if set, is told once the main view shows the contacts.
	OnReady func()
	// Control serves the profile's control socket beside the peer, for
	// the command line ('parley send' while the window is open).
	Control bool
}

// Run opens the main window and runs until the user quits or ctx is done.
func Run(ctx context.Context, cfg Config) error {
	a := fyneapp.NewWithID(AppID)
	a.SetIcon(Icon)
	w := a.NewWindow("Parley")
	w.Resize(fyne.NewSize(900, 600))
	w.SetMaster()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := NewSession(ctx, cfg, w)
	s.setupDesktop(a)
	context.AfterFunc(ctx, func() { fyne.Do(a.Quit) })
	if cfg.Minimized && s.tray {
		a.Run()
	} else {
		w.ShowAndRun()
	}
	cancel()
	return s.Wait()
}

// Session is one window's life: first start if the profile is new, then
// the profile's peer running in the background and the main view.
type Session struct {
	ctx context.Context
	cfg Config
	win fyne.Window

	wg    sync.WaitGroup
	errMu sync.Mutex
	err   error // guarded by errMu: why the peer stopped, if it failed

	// On the UI thread:
	prof         *profile.Profile
	peer         *app.Peer
	settings     app.Settings
	main         *MainView
	settingsView *SettingsView
	focused      bool
	tray         bool // a system tray is there
	trayMenu     *fyne.Menu
	onStarted    func()
	online       bool  // the peer is logged in (the tray shows it)
	importErr    error // the last failed import (tests)
}

// NewSession fills win with the first-start form or the main view and,
// once a profile is open, starts its peer.
func NewSession(ctx context.Context, cfg Config, win fyne.Window) *Session {
	s := &Session{ctx: ctx, cfg: cfg, win: win, focused: true}
	prof, err := profile.Open(ctx, cfg.ProfileDir)
	switch {
	case err == nil:
		s.start(prof)
	case errors.Is(err, profile.ErrNoProfile):
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

// Main returns the main view once the profile is open, else nil.
func (s *Session) Main() *MainView { return s.main }

// Settings returns the settings view while it is open, else nil.
func (s *Session) SettingsView() *SettingsView { return s.settingsView }

// ShowSettings opens the settings.
func (s *Session) ShowSettings() { s.showSettings() }

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
			msg.SetText("Usernames have 3 to 32 letters, digits, '.', '_' or '-', and start with a letter.")
			return
		}
		create.Disable()
		msg.SetText("Checking that " + username + " is free and claiming it…")
		go func() {
			prof, err := app.Init(s.ctx, s.cfg.ProfileDir, username, s.cfg.Options)
			do(func() {
				create.Enable()
				switch {
				case errors.Is(err, app.ErrNameTaken):
					msg.SetText("The username " + username + " is taken. Choose another.")
					return
				case err != nil:
					msg.SetText(err.Error())
					return
				}
				s.welcome(prof)
			})
		}()
	})
	create.Importance = widget.HighImportance
	name.OnSubmitted = func(string) { create.OnTapped() }
	importBtn := widget.NewButton("Import a profile from another computer…", s.importProfile)
	return container.NewPadded(container.NewVBox(
		widget.NewLabelWithStyle("Welcome to Parley", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		widget.NewLabel("Choose the username your contacts will find you by."),
		name, create, msg,
		widget.NewSeparator(),
		importBtn,
	))
}

// welcome shows the new identity's fingerprint, then the main view.
func (s *Session) welcome(prof *profile.Profile) {
	fp := widget.NewLabelWithStyle(prof.Fingerprint(), fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	fp.Wrapping = fyne.TextWrapWord
	note := widget.NewLabel(prof.Note)
	note.Wrapping = fyne.TextWrapWord
	if prof.Note == "" {
		note.Hide()
	}
	cont := widget.NewButton("Continue", func() { s.start(prof) })
	cont.Importance = widget.HighImportance
	s.win.SetContent(container.NewPadded(container.NewVBox(
		widget.NewLabelWithStyle("You are "+prof.Username, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		widget.NewLabel("Your safety number. Contacts compare it with theirs to be sure they talk to you:"),
		fp, note, cont,
	)))
}

// start runs the profile's peer and shows the main view.
func (s *Session) start(prof *profile.Profile) {
	set, err := app.LoadSettings(s.ctx, prof)
	if err != nil {
		prof.Close()
		s.win.SetContent(errorView(err))
		return
	}
	s.prof, s.settings = prof, set
	if s.cfg.ApplySettings != nil {
		s.cfg.ApplySettings(set)
	}
	opts := s.cfg.Options
	if !s.cfg.SeedsGiven && len(set.Seeds) > 0 {
		if seeds, err := app.ParseSeeds(set.Seeds); err == nil {
			opts.Seeds = seeds
		}
	}
	opts.OnUpdate = func(u app.Update) {
		do(func() {
			if s.main != nil {
				s.main.Apply(u)
			}
		})
	}
	peer, err := app.NewPeer(prof, opts)
	if err != nil {
		prof.Close()
		s.win.SetContent(errorView(err))
		return
	}
	s.peer = peer
	s.main = NewMainView(s.ctx, peer, s.win, s.cfg.Desktop)
	s.main.onLoaded = s.cfg.OnReady
	s.main.Focused = func() bool { return s.focused }
	s.main.Settings = func() app.Settings { return s.settings }
	s.main.OpenSettings = s.showSettings
	s.win.SetContent(s.main.Content())
	s.win.SetTitle("Parley · " + prof.Username)
	if set.WindowWidth > 200 && set.WindowHeight > 150 {
		s.win.Resize(fyne.NewSize(set.WindowWidth, set.WindowHeight))
	}
	changes, unwatch := peer.Watch()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer prof.Close()
		defer unwatch()
		if err := s.runPeer(prof.Dir, peer); err != nil {
			s.errMu.Lock()
			s.err = err
			s.errMu.Unlock()
			do(func() { s.win.SetContent(errorView(err)) })
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
				do(func() {
					s.main.UpdateStatus(st)
					if online := st.Primary != nil || st.Role != app.RoleLeaf; online != s.online {
						s.online = online
						s.updateTray()
					}
				})
			}
		}
	}()
	if s.onStarted != nil {
		s.onStarted()
	}
}

// StatusText returns the user's name, safety number and connection state
// as the window shows them (tests).
func (s *Session) StatusText() (username, fingerprint, state string) {
	if s.main == nil || s.peer == nil {
		return "", "", ""
	}
	st := s.peer.Status()
	return st.Username, st.Fingerprint, s.main.me.Text
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

// runPeer runs peer, and its control socket if the config asks for one,
// until the session ends.
func (s *Session) runPeer(dir string, peer *app.Peer) error {
	if s.cfg.Control {
		return control.Run(s.ctx, dir, peer)
	}
	return peer.Run(s.ctx)
}
