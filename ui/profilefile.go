package ui

import (
	"errors"
	"fmt"
	"io"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/app/profile"
)

// askPassword asks for a password (twice when confirm) and calls fn.
func (s *Session) askPassword(title string, confirm bool, fn func(string)) {
	pw := widget.NewPasswordEntry()
	again := widget.NewPasswordEntry()
	items := []*widget.FormItem{widget.NewFormItem("Password", pw)}
	if confirm {
		items = append(items, widget.NewFormItem("Again", again))
	}
	dialog.ShowForm(title, "OK", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		if confirm && pw.Text != again.Text {
			dialog.ShowError(errors.New("the passwords differ"), s.win)
			return
		}
		fn(pw.Text)
	}, s.win)
}

// exportProfile writes the profile to a password-protected file.
func (s *Session) exportProfile() {
	if s.prof == nil {
		return
	}
	dialog.ShowFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil || w == nil {
			return
		}
		s.askPassword("Protect the export with a password", true, func(pw string) {
			prof := s.prof
			go func() {
				err := profile.Export(s.ctx, prof, w, pw, app.Version)
				if cerr := w.Close(); err == nil {
					err = cerr
				}
				do(func() {
					if err != nil {
						dialog.ShowError(err, s.win)
						return
					}
					dialog.ShowInformation("Profile exported", "Import it on the other computer with its password.", s.win)
				})
			}()
		})
	}, s.win)
}

// importProfile reads a profile exported on another computer.
func (s *Session) importProfile() {
	dialog.ShowFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		s.askPassword("Password of the exported profile", false, func(pw string) { s.ImportFrom(r, pw) })
	}, s.win)
}

// ImportFrom imports the exported profile r (closed when done) with its
// password, off the UI thread, and opens it; a wrong password or a bad
// file is shown, and the first-start form stays.
func (s *Session) ImportFrom(r io.ReadCloser, password string) {
	go func() {
		defer r.Close()
		prof, err := profile.Import(s.ctx, r, password, s.cfg.ProfileDir)
		do(func() {
			if err != nil {
				s.importErr = err
				dialog.ShowError(importError(err), s.win)
				return
			}
			s.start(prof)
		})
	}()
}

// importError says what went wrong with an import in the user's words.
func importError(err error) error {
	switch {
	case errors.Is(err, profile.ErrWrongPassword):
		return errors.New("that is not the password of this export")
	case errors.Is(err, profile.ErrBadExport):
		return fmt.Errorf("this is not a Parley profile export, or it is damaged: %v", err)
	}
	return err
}
