package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/parleynet/parley/app"
)

const defaultDevice = "System default"

// SettingsView edits the profile's settings. Save stores them; some take
// effect at the next start, which it says.
type SettingsView struct {
	s    *Session
	root fyne.CanvasObject

	Input, Output *widget.Select
	Seeds         *widget.Entry
	Supernode     *widget.Check
	StartAtLogin  *widget.Check
	NotifyMsgs    *widget.Check
	NotifyCalls   *widget.Check
	Sounds        *widget.Check
	CloseToTray   *widget.Check
	testResult    *widget.Label
	msg           *widget.Label
}

func newSettingsView(s *Session, set app.Settings, supernodeOn bool) *SettingsView {
	v := &SettingsView{s: s}
	v.Input = widget.NewSelect([]string{defaultDevice}, nil)
	v.Output = widget.NewSelect([]string{defaultDevice}, nil)
	v.Input.SetSelected(orDefault(set.InputDevice))
	v.Output.SetSelected(orDefault(set.OutputDevice))
	v.loadDevices()
	v.testResult = widget.NewLabel("")
	test := widget.NewButton("Test", v.testAudio)
	v.Seeds = widget.NewMultiLineEntry()
	v.Seeds.SetPlaceHolder("host:port, one per line (empty: Parley's own seeds)")
	v.Seeds.SetText(strings.Join(set.Seeds, "\n"))
	v.Seeds.SetMinRowsVisible(2)
	v.Supernode = widget.NewCheck("Serve as a supernode when the network elects this computer", nil)
	v.Supernode.SetChecked(supernodeOn)
	v.StartAtLogin = widget.NewCheck("Start Parley when I log in", nil)
	v.StartAtLogin.SetChecked(set.StartAtLogin)
	v.NotifyMsgs = widget.NewCheck("Notify me of new messages", nil)
	v.NotifyMsgs.SetChecked(set.NotifyMessages)
	v.NotifyCalls = widget.NewCheck("Notify me of calls", nil)
	v.NotifyCalls.SetChecked(set.NotifyCalls)
	v.Sounds = widget.NewCheck("Play sounds (ringtone, new message)", nil)
	v.Sounds.SetChecked(set.Sounds)
	v.CloseToTray = widget.NewCheck("Keep running in the tray when the window is closed", nil)
	v.CloseToTray.SetChecked(set.CloseToTray)
	v.msg = widget.NewLabel("")
	v.msg.Wrapping = fyne.TextWrapWord
	v.root = container.NewVBox(
		widget.NewForm(
			widget.NewFormItem("Microphone", v.Input),
			widget.NewFormItem("Speakers", v.Output),
			widget.NewFormItem("", container.NewHBox(test, v.testResult)),
			widget.NewFormItem("Seeds", v.Seeds),
		),
		v.Supernode, v.StartAtLogin, v.NotifyMsgs, v.NotifyCalls, v.Sounds, v.CloseToTray,
		v.msg,
	)
	return v
}

func orDefault(s string) string {
	if s == "" {
		return defaultDevice
	}
	return s
}

func fromDefault(s string) string {
	if s == defaultDevice {
		return ""
	}
	return s
}

// loadDevices lists the sound devices, off the UI thread.
func (v *SettingsView) loadDevices() {
	d := v.s.cfg.Desktop
	load := func(list func() ([]string, error), sel *widget.Select) {
		if list == nil {
			return
		}
		go func() {
			names, err := list()
			do(func() {
				opts := []string{defaultDevice}
				if err == nil {
					opts = append(opts, names...)
				}
				sel.SetOptions(opts)
			})
		}()
	}
	load(d.InputDevices, v.Input)
	load(d.OutputDevices, v.Output)
}

func (v *SettingsView) testAudio() {
	t := v.s.cfg.Desktop.TestAudio
	if t == nil {
		v.testResult.SetText("No audio test on this build.")
		return
	}
	in, out := fromDefault(v.Input.Selected), fromDefault(v.Output.Selected)
	v.testResult.SetText("Playing a tone; speak into the microphone…")
	go func() {
		peak, err := t(in, out)
		do(func() {
			if err != nil {
				v.testResult.SetText("Audio test failed: " + err.Error())
				return
			}
			v.testResult.SetText(fmt.Sprintf("Microphone peak level %.0f%%", peak*100))
		})
	}()
}

// Save stores the settings; it returns what went wrong, if anything.
func (v *SettingsView) Save() error {
	ctx := context.Background()
	prof := v.s.prof
	set, err := app.LoadSettings(ctx, prof)
	if err != nil {
		return err
	}
	set.InputDevice = fromDefault(v.Input.Selected)
	set.OutputDevice = fromDefault(v.Output.Selected)
	set.Seeds = strings.Fields(strings.ReplaceAll(v.Seeds.Text, ",", " "))
	set.NotifyMessages = v.NotifyMsgs.Checked
	set.NotifyCalls = v.NotifyCalls.Checked
	set.Sounds = v.Sounds.Checked
	set.CloseToTray = v.CloseToTray.Checked
	if set.StartAtLogin != v.StartAtLogin.Checked {
		if err := app.SetStartAtLogin(v.StartAtLogin.Checked, prof.Dir); err != nil {
			return err
		}
		set.StartAtLogin = v.StartAtLogin.Checked
	}
	if err := app.SaveSettings(ctx, prof, set); err != nil {
		return err
	}
	if err := prof.SetSupernodeRole(ctx, v.Supernode.Checked); err != nil {
		return err
	}
	v.s.settings = set
	if v.s.cfg.ApplySettings != nil {
		v.s.cfg.ApplySettings(set)
	}
	return nil
}

// showSettings opens the settings dialog.
func (s *Session) showSettings() {
	set := s.settings
	off, err := s.prof.SupernodeRoleOff(context.Background())
	if err != nil {
		dialog.ShowError(err, s.win)
		return
	}
	v := newSettingsView(s, set, !off)
	s.settingsView = v
	d := dialog.NewCustomConfirm("Settings", "Save", "Cancel", container.NewVScroll(v.root), func(ok bool) {
		s.settingsView = nil
		if !ok {
			return
		}
		if err := v.Save(); err != nil {
			dialog.ShowError(err, s.win)
			return
		}
		dialog.ShowInformation("Settings saved", "Devices, notifications and sounds apply now; seeds and the supernode role at the next start.", s.win)
	}, s.win)
	d.Resize(fyne.NewSize(560, 560))
	d.Show()
}
