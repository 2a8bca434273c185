package ui

import (
	"context"
	"errors"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/parleynet/parley/app"
)

// levelEvery is how often the in-call view reads the levels and duration.
const levelEvery = 100 * time.Millisecond

// callUI shows calls: the incoming-call window, the in-call panel in the
// conversation, and why a call failed.
type callUI struct {
	m *MainView

	current  *app.CallInfo // the call going on, if any
	incoming fyne.Window   // the incoming-call window, while one rings
	stopRing func()
	panel    *inCallPanel
}

func newCallUI(m *MainView) *callUI { return &callUI{m: m} }

// dial calls name, off the UI thread.
func (c *callUI) dial(name string) {
	if c.current != nil {
		c.showError(name, "You are already in a call with "+c.current.Username+".")
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(c.m.ctx, netTimeout)
		defer cancel()
		ci, err := c.m.be.Call(ctx, name, app.CallOptions{})
		do(func() {
			if err != nil {
				c.showError(name, callError(err.Error(), err))
				return
			}
			if c.current == nil || c.current.ID == ci.ID {
				c.show(ci, "Calling…")
			}
		})
	}()
}

// callError says why a call failed, in the user's words.
func callError(reason string, err error) string {
	low := strings.ToLower(reason)
	switch {
	case errors.Is(err, app.ErrNoAudio) || strings.Contains(low, "audio device"):
		return "Calls need an audio device: " + reason
	case strings.Contains(low, "security") || strings.Contains(low, "fingerprint"):
		return "Security error: the call was not the contact's own; it was ended. (" + reason + ")"
	case strings.Contains(low, "offline") || strings.Contains(low, "not online") || strings.Contains(low, "unreachable"):
		return "The contact is offline. (" + reason + ")"
	case strings.Contains(low, "ice") || strings.Contains(low, "route") || strings.Contains(low, "connect"):
		return "No route to the contact: the call could not connect. (" + reason + ")"
	}
	return "The call failed: " + reason
}

// showError shows why a call failed, in the conversation with name (opened
// if needed) and as a dialog.
func (c *callUI) showError(name, msg string) {
	c.m.Open(name)
	if v := c.m.conv; v != nil && v.name == name {
		v.showError(msg)
	}
}

// update follows a call's events.
func (c *callUI) update(u app.CallUpdate) {
	ci := u.CallInfo
	if c.current != nil && c.current.ID != ci.ID {
		return // another call: the manager answers it busy
	}
	switch u.Event {
	case "incoming":
		c.current = &ci
		c.ring(ci)
	case "dialing":
		c.show(ci, "Calling…")
	case "ringing":
		c.show(ci, "Ringing…")
	case "connecting":
		c.stopRinging()
		c.show(ci, "Connecting…")
	case "connected", "resumed":
		c.stopRinging()
		c.show(ci, "")
	case "interrupted":
		c.show(ci, "Reconnecting…")
	case "ended":
		c.stopRinging()
		c.current = nil
		if c.panel != nil {
			c.panel.stop()
			c.panel = nil
		}
		if v := c.m.conv; v != nil {
			v.callBox.RemoveAll()
			v.relayout()
		}
		switch ci.Outcome {
		case "failed":
			c.showError(ci.Username, callError(ci.Reason, nil))
		case "missed":
			if ci.Incoming {
				c.notify("Missed call", "from "+ci.Username)
			}
		}
	}
}

// ring shows the incoming-call window and plays the ringtone.
func (c *callUI) ring(ci app.CallInfo) {
	c.stopRinging()
	s := c.m.Settings()
	if s.Sounds {
		c.stopRing = c.m.desk.play("ring", true)
	}
	c.notify("Incoming call", ci.Username+" is calling")
	w := fyne.CurrentApp().NewWindow("Incoming call")
	w.SetIcon(Icon)
	accept := widget.NewButtonWithIcon("Accept", theme.ConfirmIcon(), func() { c.Answer() })
	accept.Importance = widget.SuccessImportance
	decline := widget.NewButtonWithIcon("Decline", theme.CancelIcon(), func() { c.Decline() })
	decline.Importance = widget.DangerImportance
	who := widget.NewLabelWithStyle(ci.Username, fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	w.SetContent(container.NewPadded(container.NewVBox(
		who,
		widget.NewLabelWithStyle("is calling you", fyne.TextAlignCenter, fyne.TextStyle{}),
		container.NewGridWithColumns(2, decline, accept),
	)))
	w.SetCloseIntercept(func() { c.Decline() })
	w.Resize(fyne.NewSize(320, 140))
	w.Show()
	w.RequestFocus()
	c.incoming = w
}

func (c *callUI) notify(title, body string) {
	if c.m.Settings().NotifyCalls && !c.m.Focused() {
		fyne.CurrentApp().SendNotification(fyne.NewNotification(title, body))
	}
}

func (c *callUI) stopRinging() {
	if c.stopRing != nil {
		c.stopRing()
		c.stopRing = nil
	}
	if c.incoming != nil {
		c.incoming.Close()
		c.incoming = nil
	}
}

// Incoming returns the incoming-call window while a call rings.
func (c *callUI) Incoming() fyne.Window { return c.incoming }

// Answer accepts the ringing call.
func (c *callUI) Answer() {
	if c.current == nil {
		return
	}
	ci := *c.current
	c.stopRinging()
	c.m.Open(ci.Username)
	c.show(ci, "Connecting…")
	go func() {
		if err := c.m.be.AnswerCall(ci.ID); err != nil {
			do(func() { c.showError(ci.Username, callError(err.Error(), err)) })
		}
	}()
}

// Decline declines the ringing call.
func (c *callUI) Decline() {
	if c.current == nil {
		return
	}
	id := c.current.ID
	c.stopRinging()
	go c.m.be.DeclineCall(id)
}

// show puts the in-call panel into the call's conversation.
func (c *callUI) show(ci app.CallInfo, note string) {
	c.current = &ci
	if c.incoming != nil {
		return // ringing: the incoming window is the view
	}
	c.m.Open(ci.Username)
	v := c.m.conv
	if v == nil || v.name != ci.Username {
		return
	}
	v.hideError()
	if c.panel == nil || c.panel.id != ci.ID {
		if c.panel != nil {
			c.panel.stop()
		}
		c.panel = newInCallPanel(c, ci)
	}
	if len(v.callBox.Objects) == 0 || v.callBox.Objects[0] != c.panel.root {
		v.callBox.RemoveAll()
		v.callBox.Add(c.panel.root)
		v.relayout()
	}
	c.panel.set(ci, note)
}

// inCallPanel is the in-call view: who, how long, the path, mute,
// hang-up and the microphone's level.
type inCallPanel struct {
	c       *callUI
	id      string
	root    fyne.CanvasObject
	status  *widget.Label
	path    *widget.Label
	level   *widget.ProgressBar
	mute    *widget.Button
	muted   bool
	since   time.Time
	started bool
	quit    chan struct{}
}

func newInCallPanel(c *callUI, ci app.CallInfo) *inCallPanel {
	p := &inCallPanel{c: c, id: ci.ID, quit: make(chan struct{})}
	p.status = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	p.path = widget.NewLabel("")
	p.path.Importance = widget.LowImportance
	p.path.Wrapping = fyne.TextWrapWord
	p.level = widget.NewProgressBar()
	p.level.TextFormatter = func() string { return "microphone" }
	p.mute = widget.NewButtonWithIcon("Mute", theme.VolumeMuteIcon(), p.toggleMute)
	hang := widget.NewButtonWithIcon("Hang up", theme.CancelIcon(), p.hangUp)
	hang.Importance = widget.DangerImportance
	p.root = widget.NewCard("", "", container.NewVBox(
		container.NewBorder(nil, nil, nil, container.NewHBox(p.mute, hang), p.status),
		p.level, p.path,
	))
	return p
}

// set shows the call's state; note overrides the duration while not
// talking.
func (p *inCallPanel) set(ci app.CallInfo, note string) {
	if note == "" && !p.started {
		p.started = true
		p.since = now().Add(-time.Duration(ci.Seconds * float64(time.Second)))
		go p.tick()
	}
	if note != "" {
		p.status.SetText(ci.Username + " · " + note)
	} else {
		p.status.SetText(ci.Username + " · " + formatDuration(since(p.since)))
	}
	switch {
	case ci.Relayed:
		p.path.SetText("Through a relay (TURN): neither side could reach the other directly. Still end-to-end encrypted.")
	case ci.Path != "":
		p.path.SetText("Direct connection, end-to-end encrypted")
	default:
		p.path.SetText("")
	}
}

// tick updates the duration and the level until the call ends. The
// levels are read here, off the UI thread.
func (p *inCallPanel) tick() {
	t := time.NewTicker(levelEvery)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
		}
		in, _, ok := p.c.m.be.CallLevels(p.id)
		do(func() {
			select {
			case <-p.quit:
				return
			default:
			}
			if ok {
				p.level.SetValue(in)
			}
			if cur := p.c.current; cur != nil && cur.ID == p.id && !strings.Contains(p.status.Text, "…") {
				p.status.SetText(cur.Username + " · " + formatDuration(since(p.since)))
			}
		})
	}
}

func (p *inCallPanel) stop() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
}

func (p *inCallPanel) toggleMute() {
	p.muted = !p.muted
	if p.muted {
		p.mute.SetText("Unmute")
	} else {
		p.mute.SetText("Mute")
	}
	muted, id := p.muted, p.id
	go func() {
		if err := p.c.m.be.SetCallMuted(id, muted); err != nil {
			do(func() { dialog.ShowError(err, p.c.m.win) })
		}
	}()
}

func (p *inCallPanel) hangUp() {
	id := p.id
	go p.c.m.be.HangUp(id)
}

// InCall returns the in-call panel's status line, or "" with no call
// shown (tests).
func (m *MainView) InCall() string {
	if m.calls.panel == nil {
		return ""
	}
	return m.calls.panel.status.Text
}

// HangUp ends the current call.
func (m *MainView) HangUp() {
	if m.calls.panel != nil {
		m.calls.panel.hangUp()
	}
}

// IncomingCall returns the incoming-call window, or nil.
func (m *MainView) IncomingCall() fyne.Window { return m.calls.incoming }

// AnswerCall accepts and DeclineCall declines the ringing call.
func (m *MainView) AnswerCall()  { m.calls.Answer() }
func (m *MainView) DeclineCall() { m.calls.Decline() }
