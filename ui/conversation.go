package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/parleynet/parley/app"
)

// Conversation paging: the newest page shows at once; an older one loads
// when the user scrolls near the top.
const (
	pageSize     = 60
	loadMoreRows = 10 // rows from the top that trigger the next page
	callLogSize  = 200
	typingEvery  = 3 * time.Second
)

// item is one row of a conversation: a message or a call.
type item struct {
	msg  *app.MessageInfo
	call *app.CallLogEntry
}

// key names the row for the height cache: a message's text and state
// (its meta line) or a call's outcome decide its height.
func (it item) key() string {
	if it.msg != nil {
		return "m" + it.msg.ID + it.msg.State + it.msg.Body
	}
	return "c" + it.call.ID + it.call.Outcome
}

func (it item) when() time.Time {
	if it.msg != nil {
		return it.msg.Sent
	}
	return it.call.Started
}

// Conversation is the open conversation with one contact.
type Conversation struct {
	m       *MainView
	name    string
	contact app.ContactInfo
	ctx     context.Context
	cancel  context.CancelFunc

	msgs         []app.MessageInfo // loaded, oldest first
	calls        []app.CallLogEntry
	items        []item
	older        bool               // there may be older messages
	heights      []float32          // the rows' heights as set in the list
	heightOf     map[string]float32 // measured heights by row key, at heightsWidth
	heightsWidth float32            // the list width they were measured at
	heightsDue   bool               // a setHeights is queued
	listBox      *fyne.Container    // holds the list (replaced when rows shift)
	positioning  bool               // a new list is being put in place
	loading      bool
	lastType     time.Time

	root     *fyne.Container
	title    *widget.Label
	sub      *widget.Label
	banner   *fyne.Container
	callBox  *fyne.Container // the in-call panel's place
	list     *widget.List
	typing   *widget.Label
	entry    *Composer
	callBtn  *widget.Button
	sendBtn  *widget.Button
	errLabel *widget.Label
}

func newConversation(m *MainView, c app.ContactInfo) *Conversation {
	ctx, cancel := context.WithCancel(m.ctx)
	v := &Conversation{m: m, name: c.Username, ctx: ctx, cancel: cancel, older: true}
	v.title = widget.NewLabelWithStyle(c.Username, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	v.sub = widget.NewLabel("")
	v.sub.Importance = widget.LowImportance
	v.callBtn = widget.NewButtonWithIcon("Call", theme.MediaRecordIcon(), v.Call)
	details := widget.NewButtonWithIcon("", theme.InfoIcon(), v.ShowDetails)
	header := container.NewBorder(nil, nil, nil, container.NewHBox(v.callBtn, details),
		container.NewHBox(v.title, v.sub))
	v.banner = container.NewVBox()
	v.callBox = container.NewVBox()
	v.errLabel = widget.NewLabel("")
	v.errLabel.Importance = widget.DangerImportance
	v.errLabel.Wrapping = fyne.TextWrapWord
	v.errLabel.Hide()

	v.list = v.newList()
	v.listBox = container.NewStack(v.list)
	v.typing = widget.NewLabel("")
	v.typing.Importance = widget.LowImportance
	v.entry = NewComposer()
	v.entry.SetPlaceHolder("Message (Enter sends, Shift+Enter starts a new line)")
	v.entry.OnSend = v.send
	v.entry.OnChanged = func(string) { v.typed() }
	v.sendBtn = widget.NewButtonWithIcon("", theme.MailSendIcon(), v.send)
	composer := container.NewBorder(nil, nil, nil, v.sendBtn, v.entry)

	top := container.NewVBox(header, widget.NewSeparator(), v.banner, v.callBox, v.errLabel)
	bottom := container.NewVBox(v.typing, composer)
	v.root = container.NewBorder(top, bottom, nil, nil, v.listBox)
	v.setContact(c)
	v.loadInitial()
	return v
}

// Root is the view's content.
func (v *Conversation) Root() fyne.CanvasObject { return v.root }

func (v *Conversation) close() { v.cancel() }

func (v *Conversation) setContact(c app.ContactInfo) {
	v.contact = c
	sub := c.Presence
	if c.State == "outgoing" {
		sub = "has not accepted yet"
	}
	if c.Verified {
		sub += " · verified"
	}
	v.sub.SetText(sub)
	if c.State == "accepted" {
		v.callBtn.Enable()
	} else {
		v.callBtn.Disable()
	}
	v.banner.RemoveAll()
	if c.KeyChanged {
		l := widget.NewLabel("⚠ " + c.Username + "'s key has changed. This can mean they reinstalled Parley, or that someone is " +
			"pretending to be them. Check the new safety number with them before you trust it; until then nothing is sent.")
		l.Wrapping = fyne.TextWrapWord
		l.Importance = widget.WarningImportance
		accept := widget.NewButton("I checked: accept the new key", func() { v.m.act(v.name, app.ActionAcceptKey) })
		show := widget.NewButton("Show safety number", v.ShowDetails)
		v.banner.Add(container.NewVBox(l, container.NewHBox(accept, show)))
	}
	v.relayout()
}

// relayout lays the view out again after its top part changed.
func (v *Conversation) relayout() {
	if v.root != nil {
		v.root.Refresh()
	}
}

// loadInitial loads the newest page and the call log, then marks the
// conversation read.
func (v *Conversation) loadInitial() {
	v.loading = true
	go func() {
		msgs, err := v.m.be.MessagesBefore(v.ctx, v.name, nil, pageSize)
		calls, cerr := v.m.be.CallLog(v.ctx, v.name, callLogSize)
		do(func() {
			v.loading = false
			if err != nil || cerr != nil {
				v.showError(fmt.Sprint("Cannot read the conversation: ", firstErr(err, cerr)))
				return
			}
			v.msgs, v.calls = msgs, calls
			v.older = len(msgs) == pageSize
			v.rebuild()
			v.list.ScrollToBottom()
			v.markRead()
		})
	}()
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// loadOlder loads the page before the oldest loaded message, keeping the
// rows in view where they are.
func (v *Conversation) loadOlder() {
	if v.loading || !v.older || len(v.msgs) == 0 {
		return
	}
	v.loading = true
	oldest := v.msgs[0]
	go func() {
		msgs, err := v.m.be.MessagesBefore(v.ctx, v.name, &oldest, pageSize)
		do(func() {
			v.loading = false
			if err != nil {
				v.showError("Cannot read older messages: " + err.Error())
				return
			}
			v.older = len(msgs) == pageSize
			if len(msgs) == 0 {
				return
			}
			before := len(v.items)
			v.msgs = append(msgs, v.msgs...)
			v.rebuildShifted(func() int { return len(v.items) - before })
		})
	}()
}

func (v *Conversation) newList() *widget.List {
	l := widget.NewList(
		func() int { return len(v.items) },
		func() fyne.CanvasObject { return newBubble() },
		v.updateRow,
	)
	l.HideSeparators = true
	return l
}

// rebuildShifted is rebuild after rows were put before the loaded ones,
// keeping what was in view where it was: every row's place moved, so the
// list is a new one, whose row heights are set before it is drawn
// (setting them on a drawn list redraws it once per row).
func (v *Conversation) rebuildShifted(added func() int) {
	offset := v.list.GetScrollOffset()
	size := v.list.Size()
	v.list = v.newList()
	v.heights = v.heights[:0]
	v.rebuild()
	v.positioning = true // drawn at the top first: no loading from there
	v.listBox.Objects = []fyne.CanvasObject{v.list}
	v.list.Resize(size)
	var h float32
	for i := range added() {
		h += v.heights[i] + theme.Padding()
	}
	v.list.ScrollToOffset(offset + h)
	v.positioning = false
	v.listBox.Refresh()
}

// rebuild merges messages and calls into rows. Calls older than the
// oldest loaded message wait until that part of the history is loaded.
func (v *Conversation) rebuild() {
	v.items = v.items[:0]
	for i := range v.msgs {
		v.items = append(v.items, item{msg: &v.msgs[i]})
	}
	for i := range v.calls {
		c := &v.calls[i]
		if v.older && len(v.msgs) > 0 && c.Started.Before(v.msgs[0].Sent) {
			continue
		}
		v.items = append(v.items, item{call: c})
	}
	slices.SortStableFunc(v.items, func(a, b item) int { return a.when().Compare(b.when()) })
	v.setHeights()
	v.list.Refresh()
}

// Items returns the conversation's rows as text, oldest first (tests).
func (v *Conversation) Items() []string {
	out := make([]string, len(v.items))
	for i, it := range v.items {
		if it.msg != nil {
			out[i] = it.msg.Body
		} else {
			out[i] = callText(*it.call)
		}
	}
	return out
}

func (v *Conversation) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	if id >= len(v.items) {
		return
	}
	if id < loadMoreRows && !v.positioning {
		v.loadOlder()
	}
	o.(*bubble).set(v.items[id])
	if w := v.list.Size().Width; w != v.heightsWidth && !v.heightsDue {
		// The width changed: heights are set again, not from inside the
		// list's own update.
		v.heightsDue = true
		go do(v.setHeights)
	}
}

// setHeights gives every row the height its text takes at the list's
// width.
func (v *Conversation) setHeights() {
	v.heightsDue = false
	if w := v.list.Size().Width; w != v.heightsWidth || v.heightOf == nil {
		v.heightsWidth = w
		v.heightOf = make(map[string]float32)
	}
	for i := range v.items {
		k := v.items[i].key()
		h, ok := v.heightOf[k]
		if !ok {
			h = v.rowHeight(i)
			v.heightOf[k] = h
		}
		if i >= len(v.heights) {
			v.heights = append(v.heights, -1)
		}
		if v.heights[i] != h {
			v.heights[i] = h
			v.list.SetItemHeight(i, h)
		}
	}
	v.heights = v.heights[:len(v.items)]
}

// rowHeight is the height row id needs at the list's current width.
func (v *Conversation) rowHeight(id int) float32 {
	w := v.list.Size().Width
	if w <= 0 {
		w = 600
	}
	return bubbleHeight(v.items[id], w)
}

// messageUpdate takes a new message or a message's new state.
func (v *Conversation) messageUpdate(mi app.MessageInfo) {
	for i := range v.msgs {
		if v.msgs[i].ID == mi.ID && v.msgs[i].Incoming == mi.Incoming {
			v.msgs[i] = mi
			for j, it := range v.items {
				if it.msg == &v.msgs[i] {
					v.list.RefreshItem(j)
				}
			}
			return
		}
	}
	atBottom := v.atBottom()
	v.msgs = append(v.msgs, mi)
	v.rebuild()
	if atBottom || !mi.Incoming {
		v.list.ScrollToBottom()
	}
	if mi.Incoming {
		v.setTyping(false)
	}
}

func (v *Conversation) atBottom() bool {
	return v.list.GetScrollOffset()+v.list.Size().Height >= v.contentHeight()-20
}

func (v *Conversation) contentHeight() float32 {
	var h float32
	for _, rh := range v.heights {
		h += rh + theme.Padding()
	}
	return h
}

func (v *Conversation) reloadCalls() {
	go func() {
		calls, err := v.m.be.CallLog(v.ctx, v.name, callLogSize)
		if err != nil {
			return
		}
		do(func() {
			v.calls = calls
			v.rebuild()
			v.list.ScrollToBottom()
		})
	}()
}

func (v *Conversation) markRead() {
	go func() {
		ctx, cancel := context.WithTimeout(v.ctx, netTimeout)
		defer cancel()
		v.m.be.MarkRead(ctx, v.name)
	}()
}

func (v *Conversation) setTyping(on bool) {
	if on {
		v.typing.SetText(v.name + " is typing…")
	} else {
		v.typing.SetText("")
	}
}

// typed tells the contact that the user types, at most every few seconds.
func (v *Conversation) typed() {
	if v.entry.Text == "" || since(v.lastType) < typingEvery || v.contact.State != "accepted" {
		return
	}
	v.lastType = now()
	go v.m.be.SetTyping(v.ctx, v.name, true)
}

// send sends what the composer holds.
func (v *Conversation) send() {
	text := strings.TrimSpace(v.entry.Text)
	if text == "" {
		return
	}
	v.entry.SetText("")
	v.lastType = time.Time{}
	go func() {
		ctx, cancel := context.WithTimeout(v.ctx, netTimeout)
		defer cancel()
		_, err := v.m.be.Send(ctx, v.name, text)
		do(func() {
			if err != nil {
				v.entry.SetText(text) // nothing typed is lost
				v.showError("Not sent: " + err.Error())
				return
			}
			v.hideError()
		})
	}()
}

func (v *Conversation) showError(s string) {
	v.errLabel.SetText(s)
	v.errLabel.Show()
	v.relayout()
}

func (v *Conversation) hideError() {
	v.errLabel.Hide()
	v.relayout()
}

// Typing returns the typing indicator's text (tests).
func (v *Conversation) Typing() string { return v.typing.Text }

// Composer returns the message entry (tests).
func (v *Conversation) Composer() *Composer { return v.entry }

// Call calls the contact.
func (v *Conversation) Call() { v.m.calls.dial(v.name) }

// ShowDetails shows the contact's key, safety number and actions.
func (v *Conversation) ShowDetails() {
	c := v.contact
	mono := func(s string) *widget.Label {
		l := widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
		l.Wrapping = fyne.TextWrapWord
		return l
	}
	verified := widget.NewCheck("I compared the safety number with "+c.Username+" (verified)", nil)
	verified.SetChecked(c.Verified)
	verified.OnChanged = func(on bool) {
		a := app.ActionUnverify
		if on {
			a = app.ActionVerify
		}
		v.m.act(c.Username, a)
	}
	var d dialog.Dialog
	remove := widget.NewButton("Remove contact", func() {
		dialog.ShowConfirm("Remove "+c.Username+"?", "The conversation stays on this computer.", func(ok bool) {
			if ok {
				d.Hide()
				v.m.act(c.Username, app.ActionRemove)
			}
		}, v.m.win)
	})
	block := widget.NewButton("Block", func() {
		dialog.ShowConfirm("Block "+c.Username+"?", "They can no longer reach you.", func(ok bool) {
			if ok {
				d.Hide()
				v.m.act(c.Username, app.ActionBlock)
			}
		}, v.m.win)
	})
	block.Importance = widget.DangerImportance
	content := container.NewVBox(
		widget.NewLabel("Key fingerprint"), mono(c.Fingerprint),
		widget.NewLabel("Safety number: compare it with "+c.Username+" in person or on a call"), mono(c.SafetyNumber),
		verified,
	)
	if c.KeyChanged {
		warn := widget.NewLabel("⚠ Their key has changed and waits for your acceptance.")
		warn.Importance = widget.WarningImportance
		content.Add(warn)
		content.Add(widget.NewButton("Accept the new key", func() { d.Hide(); v.m.act(c.Username, app.ActionAcceptKey) }))
	}
	content.Add(container.NewHBox(remove, block))
	d = dialog.NewCustom(c.Username, "Close", content, v.m.win)
	d.Resize(fyne.NewSize(520, 0))
	d.Show()
}

// Composer is the message entry: Enter sends, Shift+Enter starts a new
// line.
type Composer struct {
	widget.Entry
	OnSend func()
	shift  bool
}

// NewComposer returns an empty multi-line composer.
func NewComposer() *Composer {
	c := &Composer{}
	c.MultiLine = true
	c.Wrapping = fyne.TextWrapWord
	c.SetMinRowsVisible(2)
	c.ExtendBaseWidget(c)
	return c
}

// KeyDown tracks Shift.
func (c *Composer) KeyDown(k *fyne.KeyEvent) {
	if k.Name == desktop.KeyShiftLeft || k.Name == desktop.KeyShiftRight {
		c.shift = true
	}
	c.Entry.KeyDown(k)
}

// KeyUp tracks Shift.
func (c *Composer) KeyUp(k *fyne.KeyEvent) {
	if k.Name == desktop.KeyShiftLeft || k.Name == desktop.KeyShiftRight {
		c.shift = false
	}
	c.Entry.KeyUp(k)
}

// TypedKey sends on Enter without Shift.
func (c *Composer) TypedKey(k *fyne.KeyEvent) {
	if (k.Name == fyne.KeyReturn || k.Name == fyne.KeyEnter) && !c.shift && !shiftHeld() {
		if c.OnSend != nil {
			c.OnSend()
		}
		return
	}
	c.Entry.TypedKey(k)
}

// shiftHeld asks the desktop driver whether Shift is down, for drivers
// that do not pass KeyDown to the focused widget.
func shiftHeld() bool {
	a := fyne.CurrentApp()
	if a == nil {
		return false
	}
	if d, ok := a.Driver().(desktop.Driver); ok {
		return d.CurrentKeyModifiers()&fyne.KeyModifierShift != 0
	}
	return false
}
