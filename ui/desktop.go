package ui

import (
	"context"
	"os"
	"path/filepath"
	"runtime"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/assets"
)

// trayIcons are the tray's icons by presence.
var trayIcons = map[string]fyne.Resource{
	app.PresenceOnline:    fyne.NewStaticResource("tray-online.png", assets.TrayOnlinePNG),
	app.PresenceAway:      fyne.NewStaticResource("tray-away.png", assets.TrayAwayPNG),
	app.PresenceInvisible: fyne.NewStaticResource("tray-invisible.png", assets.TrayInvisiblePNG),
}

// trayOffline is the tray's icon while the peer is not logged in.
var trayOffline = fyne.NewStaticResource("tray-offline.png", assets.TrayOfflinePNG)

// setupDesktop wires the window into the desktop: focus for
// notifications, the tray with status and quit, and closing to the tray.
func (s *Session) setupDesktop(a fyne.App) {
	a.Lifecycle().SetOnEnteredForeground(func() {
		s.focused = true
		if s.main != nil {
			s.main.FocusGained()
		}
	})
	a.Lifecycle().SetOnExitedForeground(func() { s.focused = false })
	if d, ok := a.(desktop.App); ok && trayAvailable() {
		s.tray = true
		s.trayMenu = fyne.NewMenu("Parley",
			fyne.NewMenuItem("Show Parley", func() { s.win.Show(); s.win.RequestFocus() }),
			fyne.NewMenuItemSeparator(),
			s.presenceItem("Online", app.PresenceOnline),
			s.presenceItem("Away", app.PresenceAway),
			s.presenceItem("Invisible", app.PresenceInvisible),
			fyne.NewMenuItemSeparator(),
			fyne.NewMenuItem("Quit", a.Quit),
		)
		d.SetSystemTrayMenu(s.trayMenu)
		s.updateTray()
		s.onStarted = s.updateTray
	}
	s.win.SetCloseIntercept(func() {
		s.rememberSize()
		if s.tray && s.settings.CloseToTray && s.main != nil {
			s.win.Hide()
			return
		}
		a.Quit()
	})
	if s.main == nil {
		return
	}
	s.win.SetMainMenu(fyne.NewMainMenu(
		fyne.NewMenu("Parley",
			fyne.NewMenuItem("Settings…", s.showSettings),
			fyne.NewMenuItem("Export profile…", s.exportProfile),
		),
	))
}

// trayAvailable reports whether a system tray can show Parley's icon:
// on Linux and the BSDs the tray is a D-Bus service, so without a session
// bus there is none, and closing the window must quit rather than hide
// it where no one can get it back.
func trayAvailable() bool {
	switch runtime.GOOS {
	case "windows", "darwin":
		return true
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return true
	}
	_, err := os.Stat(filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "bus"))
	return os.Getenv("XDG_RUNTIME_DIR") != "" && err == nil
}

func (s *Session) presenceItem(label, presence string) *fyne.MenuItem {
	it := fyne.NewMenuItem(label, func() {
		if s.main != nil {
			s.main.SetPresence(presence)
			s.settings.Presence = presence
			s.updateTray()
		}
	})
	return it
}

// updateTray shows the chosen presence in the tray.
func (s *Session) updateTray() {
	d, ok := fyne.CurrentApp().(desktop.App)
	if !ok || s.trayMenu == nil {
		return
	}
	p := s.settings.Presence
	for _, it := range s.trayMenu.Items {
		switch it.Label {
		case "Online", "Away", "Invisible":
			it.Checked = (it.Label == "Online" && p == app.PresenceOnline) ||
				(it.Label == "Away" && p == app.PresenceAway) ||
				(it.Label == "Invisible" && p == app.PresenceInvisible)
		}
	}
	s.trayMenu.Refresh()
	icon, ok := trayIcons[p]
	if !s.online {
		icon, ok = trayOffline, true
	}
	if ok {
		d.SetSystemTrayIcon(icon)
	}
}

// rememberSize stores the window's size in the settings.
func (s *Session) rememberSize() {
	if s.prof == nil {
		return
	}
	sz := s.win.Canvas().Size()
	if sz.Width < 200 || sz.Height < 150 {
		return
	}
	s.settings.WindowWidth, s.settings.WindowHeight = sz.Width, sz.Height
	set := s.settings
	prof := s.prof
	if err := app.SaveSettings(context.Background(), prof, set); err != nil {
		fyne.LogError("saving the window size", err)
	}
}
