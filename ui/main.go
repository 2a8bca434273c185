package ui

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/parleynet/parley/app"
)

// netTimeout bounds what a button waits for from the network.
const netTimeout = 30 * time.Second

// MainView is the main window's content: the contact list with requests
// and search on the left, the open conversation on the right. Its fields
// are touched on the UI thread only; network results come back through
// fyne.Do.
type MainView struct {
	ctx  context.Context
	be   Backend
	win  fyne.Window
	desk Desktop
	// Focused reports whether the window has the focus (notifications
	// are for when it has not).
	Focused func() bool
	// Settings returns the current settings (notification choices).
	Settings func() app.Settings
	// OpenSettings shows the settings; nil hides the button.
	OpenSettings func()
	onLoaded     func() // told once, when the contacts first show

	contacts map[string]app.ContactInfo
	order    []string // accepted and outgoing contacts, as listed
	requests []string // incoming requests

	root      *fyne.Container
	left      *fyne.Container
	list      *widget.List
	reqBox    *fyne.Container
	reqCard   *widget.Card
	search    *widget.Entry
	searchMsg *widget.Label
	me        *widget.Label
	presence  *widget.Select
	right     *fyne.Container
	conv      *Conversation // the open conversation, or nil
	calls     *callUI
}

// NewMainView builds the main view and starts loading the contacts.
func NewMainView(ctx context.Context, be Backend, win fyne.Window, desk Desktop) *MainView {
	m := &MainView{ctx: ctx, be: be, win: win, desk: desk, contacts: make(map[string]app.ContactInfo),
		Focused: func() bool { return true }, Settings: app.DefaultSettings}
	m.calls = newCallUI(m)

	m.list = widget.NewList(
		func() int { return len(m.order) },
		func() fyne.CanvasObject { return newContactRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(m.order) {
				o.(*contactRow).set(m.contacts[m.order[id]])
			}
		},
	)
	m.list.OnSelected = func(id widget.ListItemID) {
		if id < len(m.order) {
			m.Open(m.order[id])
		}
	}

	m.search = widget.NewEntry()
	m.search.SetPlaceHolder("Find someone by username")
	m.searchMsg = widget.NewLabel("")
	m.searchMsg.Wrapping = fyne.TextWrapWord
	m.searchMsg.Hide()
	m.search.OnSubmitted = func(string) { m.find() }
	findBtn := widget.NewButtonWithIcon("", theme.SearchIcon(), m.find)

	m.reqBox = container.NewVBox()
	m.reqCard = widget.NewCard("", "", m.reqBox)
	m.reqCard.Hide()

	m.me = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	m.me.Truncation = fyne.TextTruncateEllipsis
	m.presence = widget.NewSelect([]string{app.PresenceOnline, app.PresenceAway, app.PresenceInvisible}, nil)
	m.presence.SetSelected(m.Settings().Presence)
	m.presence.OnChanged = func(p string) { m.SetPresence(p) }
	settingsBtn := widget.NewButtonWithIcon("", theme.SettingsIcon(), func() {
		if m.OpenSettings != nil {
			m.OpenSettings()
		}
	})

	top := container.NewVBox(
		container.NewBorder(nil, nil, nil, findBtn, m.search),
		m.searchMsg,
		m.reqCard,
	)
	bottom := container.NewVBox(widget.NewSeparator(), m.me,
		container.NewBorder(nil, nil, nil, settingsBtn, m.presence))
	m.left = container.NewBorder(top, bottom, nil, nil, m.list)
	left := m.left

	m.right = container.NewStack(emptyConversation())
	split := container.NewHSplit(left, m.right)
	split.Offset = 0.32
	m.root = container.NewStack(split)
	m.UpdateStatus(be.Status())
	m.reload()
	return m
}

// Content is the view's root object.
func (m *MainView) Content() fyne.CanvasObject { return m.root }

func emptyConversation() fyne.CanvasObject {
	l := widget.NewLabel("Choose a contact, or find someone to add.")
	l.Importance = widget.LowImportance
	return container.NewCenter(l)
}

// UpdateStatus shows the user's own name and connection.
func (m *MainView) UpdateStatus(st app.Status) {
	m.me.SetText(st.Username + " · " + StateText(st))
}

// reload fetches the contacts and shows them.
func (m *MainView) reload() {
	go func() {
		cs, err := m.be.Contacts(m.ctx)
		do(func() {
			if err != nil {
				m.showSearchMsg("Cannot read the contacts: " + err.Error())
				return
			}
			m.setContacts(cs)
			if m.onLoaded != nil {
				m.onLoaded()
				m.onLoaded = nil
			}
		})
	}()
}

// setContacts replaces the contact list.
func (m *MainView) setContacts(cs []app.ContactInfo) {
	m.contacts = make(map[string]app.ContactInfo, len(cs))
	m.order, m.requests = m.order[:0], m.requests[:0]
	for _, c := range cs {
		m.contacts[c.Username] = c
	}
	m.resort()
}

// resort rebuilds the list's order from m.contacts: most recent first.
func (m *MainView) resort() {
	all := make([]app.ContactInfo, 0, len(m.contacts))
	for _, c := range m.contacts {
		all = append(all, c)
	}
	slices.SortFunc(all, func(a, b app.ContactInfo) int {
		if c := b.Updated.Compare(a.Updated); c != 0 {
			return c
		}
		return strings.Compare(a.Username, b.Username)
	})
	m.order, m.requests = m.order[:0], m.requests[:0]
	for _, c := range all {
		switch c.State {
		case "incoming":
			m.requests = append(m.requests, c.Username)
		case "accepted", "outgoing":
			m.order = append(m.order, c.Username)
		}
	}
	m.list.UnselectAll()
	if m.conv != nil {
		if i := slices.Index(m.order, m.conv.name); i >= 0 {
			m.list.Select(i)
		}
	}
	m.list.Refresh()
	m.showRequests()
}

// showRequests fills the requests card.
func (m *MainView) showRequests() {
	m.reqBox.RemoveAll()
	defer m.left.Refresh()
	if len(m.requests) == 0 {
		m.reqCard.Hide()
		return
	}
	m.reqCard.SetSubTitle(fmt.Sprintf("Contact requests (%d)", len(m.requests)))
	for _, name := range m.requests {
		c := m.contacts[name]
		text := c.Username + " wants to add you"
		if c.Request != "" {
			text += ": “" + c.Request + "”"
		}
		l := widget.NewLabel(text)
		l.Wrapping = fyne.TextWrapWord
		accept := widget.NewButton("Accept", func() { m.act(name, app.ActionAccept) })
		accept.Importance = widget.HighImportance
		decline := widget.NewButton("Decline", func() { m.act(name, app.ActionDecline) })
		block := widget.NewButton("Block", func() { m.act(name, app.ActionBlock) })
		m.reqBox.Add(container.NewVBox(l, container.NewHBox(accept, decline, block)))
	}
	m.reqCard.Show()
}

// act applies a contact action off the UI thread and shows the result.
func (m *MainView) act(name string, action app.ContactAction) {
	go func() {
		ctx, cancel := context.WithTimeout(m.ctx, netTimeout)
		defer cancel()
		c, err := m.be.Act(ctx, name, action)
		do(func() {
			if err != nil {
				dialog.ShowError(err, m.win)
				return
			}
			m.contactChanged(c)
			if action == app.ActionAccept {
				m.Open(name)
			}
		})
	}()
}

func (m *MainView) showSearchMsg(s string) {
	m.searchMsg.SetText(s)
	m.searchMsg.Show()
	m.left.Refresh()
}

// find looks the search box's name up and offers to add it.
func (m *MainView) find() {
	name, err := app.NormalizeUsername(m.search.Text)
	if err != nil {
		m.showSearchMsg("Usernames have 3 to 32 letters, digits, '.', '_' or '-', and start with a letter.")
		return
	}
	if c, ok := m.contacts[name]; ok && c.State == "accepted" {
		m.hideSearchMsg()
		m.Open(name)
		return
	}
	m.showSearchMsg("Looking up " + name + "…")
	go func() {
		ctx, cancel := context.WithTimeout(m.ctx, netTimeout)
		defer cancel()
		res, err := m.be.Lookup(ctx, name)
		do(func() {
			if err != nil {
				m.showSearchMsg(lookupError(name, err))
				return
			}
			m.hideSearchMsg()
			m.offerAdd(res)
		})
	}()
}

func lookupError(name string, err error) string {
	if errors.Is(err, app.ErrNotFound) || strings.Contains(err.Error(), "not found") {
		return "No one has the username " + name + "."
	}
	return "Could not look " + name + " up: " + err.Error()
}

// offerAdd shows who res is and sends a contact request with a message.
func (m *MainView) offerAdd(res app.LookupResult) {
	msg := widget.NewMultiLineEntry()
	msg.SetPlaceHolder("Hi, it's me. Add me?")
	msg.SetMinRowsVisible(2)
	fp := widget.NewLabelWithStyle(res.Fingerprint, fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	fp.Wrapping = fyne.TextWrapWord
	items := []*widget.FormItem{
		widget.NewFormItem("Presence", widget.NewLabel(res.Presence)),
		widget.NewFormItem("Key", fp),
		widget.NewFormItem("Message", msg),
	}
	dialog.ShowForm("Add "+res.Name+"?", "Send request", "Cancel", items, func(ok bool) {
		if ok {
			m.Add(res.Name, msg.Text)
		}
	}, m.win)
}

// Add sends a contact request to name.
func (m *MainView) Add(name, message string) {
	go func() {
		ctx, cancel := context.WithTimeout(m.ctx, netTimeout)
		defer cancel()
		c, err := m.be.AddContact(ctx, name, message)
		do(func() {
			if err != nil {
				m.showSearchMsg("Could not add " + name + ": " + err.Error())
				return
			}
			m.search.SetText("")
			m.showSearchMsg("Request sent to " + name + ". They appear as a contact once they accept.")
			m.contactChanged(c)
			m.Open(name)
		})
	}()
}

// SetPresence publishes the user's presence.
func (m *MainView) SetPresence(p string) {
	if m.presence.Selected != p {
		m.presence.SetSelected(p) // calls back here through OnChanged
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(m.ctx, netTimeout)
		defer cancel()
		if err := m.be.SetPresence(ctx, p); err != nil {
			do(func() { m.showSearchMsg("Could not set your presence: " + err.Error()) })
		}
	}()
}

// Open shows the conversation with name.
func (m *MainView) Open(name string) {
	if m.conv != nil && m.conv.name == name {
		return
	}
	c, ok := m.contacts[name]
	if !ok {
		return
	}
	if m.conv != nil {
		m.conv.close()
	}
	m.conv = newConversation(m, c)
	m.right.Objects = []fyne.CanvasObject{m.conv.root}
	m.right.Refresh()
	if i := slices.Index(m.order, name); i >= 0 {
		m.list.Select(i)
	}
	if c.Unread > 0 {
		c.Unread = 0
		m.contacts[name] = c
		m.list.Refresh()
	}
}

// FocusGained is told that the window has the focus again: the open
// conversation is read now.
func (m *MainView) FocusGained() {
	if m.conv == nil {
		return
	}
	m.conv.markRead()
	if c, ok := m.contacts[m.conv.name]; ok && c.Unread > 0 {
		c.Unread = 0
		m.contacts[c.Username] = c
		m.list.Refresh()
	}
}

// Conversation returns the open conversation, or nil.
func (m *MainView) Conversation() *Conversation { return m.conv }

// contactChanged takes a changed contact.
func (m *MainView) contactChanged(c app.ContactInfo) {
	old, had := m.contacts[c.Username]
	if had {
		c.Unread, c.Last = old.Unread, old.Last
	}
	if c.State == "removed" || c.State == "declined" || c.State == "blocked" {
		delete(m.contacts, c.Username)
		if m.conv != nil && m.conv.name == c.Username {
			m.conv.close()
			m.conv = nil
			m.right.Objects = []fyne.CanvasObject{emptyConversation()}
			m.right.Refresh()
		}
	} else {
		m.contacts[c.Username] = c
		if m.conv != nil && m.conv.name == c.Username {
			m.conv.setContact(c)
		}
	}
	m.resort()
}

// Apply takes an update from the peer (on the UI thread).
func (m *MainView) Apply(u app.Update) {
	switch {
	case u.Contact != nil:
		m.contactChanged(*u.Contact)
	case u.Message != nil:
		m.messageUpdate(*u.Message)
	case u.Presence != nil:
		if c, ok := m.contacts[u.Presence.Username]; ok {
			c.Presence = u.Presence.Presence
			m.contacts[c.Username] = c
			m.list.Refresh()
			if m.conv != nil && m.conv.name == c.Username {
				m.conv.setContact(c)
			}
		}
	case u.Typing != nil:
		if m.conv != nil && m.conv.name == u.Typing.Username {
			m.conv.setTyping(u.Typing.On)
		}
	case u.Call != nil:
		m.calls.update(*u.Call)
		if u.Call.Event == "ended" && m.conv != nil && m.conv.name == u.Call.Username {
			m.conv.reloadCalls()
		}
	}
}

func (m *MainView) messageUpdate(mu app.MessageUpdate) {
	c, ok := m.contacts[mu.Username]
	if !ok {
		m.reload()
		return
	}
	isNew := mu.Incoming && mu.State == "received"
	open := m.conv != nil && m.conv.name == mu.Username
	if open {
		m.conv.messageUpdate(mu.MessageInfo)
	}
	if !isNew && !(!mu.Incoming && mu.State == "pending") {
		return
	}
	c.Last = mu.Body
	c.Updated = mu.Sent
	if isNew {
		if open && m.Focused() {
			m.conv.markRead()
		} else {
			c.Unread++
		}
		if !m.Focused() || !open {
			m.notifyMessage(mu)
		}
	}
	m.contacts[c.Username] = c
	m.resort()
}

func (m *MainView) notifyMessage(mu app.MessageUpdate) {
	s := m.Settings()
	if s.Sounds {
		m.desk.play("message", false)
	}
	if s.NotifyMessages && !m.Focused() {
		fyne.CurrentApp().SendNotification(fyne.NewNotification(mu.Username, truncate(mu.Body, 120)))
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// contactRow is one line of the contact list.
type contactRow struct {
	widget.BaseWidget
	dot    *canvas.Circle
	name   *widget.Label
	last   *widget.Label
	unread *widget.Label
	box    fyne.CanvasObject
}

func newContactRow() *contactRow {
	r := &contactRow{
		dot:    canvas.NewCircle(presenceColor("offline")),
		name:   widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		last:   widget.NewLabel(""),
		unread: widget.NewLabelWithStyle("", fyne.TextAlignTrailing, fyne.TextStyle{Bold: true}),
	}
	r.name.Truncation = fyne.TextTruncateEllipsis
	r.last.Truncation = fyne.TextTruncateEllipsis
	r.last.Importance = widget.LowImportance
	dot := container.NewGridWrap(fyne.NewSize(10, 10), r.dot)
	r.box = container.NewBorder(nil, nil, container.NewCenter(dot), r.unread,
		container.NewVBox(r.name, r.last))
	r.ExtendBaseWidget(r)
	return r
}

func (r *contactRow) set(c app.ContactInfo) {
	r.dot.FillColor = presenceColor(c.Presence)
	r.dot.Refresh()
	name := c.Username
	if c.State == "outgoing" {
		name += " (request sent)"
	}
	if c.KeyChanged {
		name += " ⚠"
	}
	r.name.SetText(name)
	r.last.SetText(firstLine(c.Last))
	if c.Unread > 0 {
		r.unread.SetText(fmt.Sprint(c.Unread))
	} else {
		r.unread.SetText("")
	}
}

func (r *contactRow) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(r.box) }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// presenceColor is the colour of a presence dot.
func presenceColor(p string) color.Color {
	switch p {
	case "online":
		return color.NRGBA{R: 0x2e, G: 0xb8, B: 0x4b, A: 0xff}
	case "away":
		return color.NRGBA{R: 0xf0, G: 0xa8, B: 0x20, A: 0xff}
	}
	return color.NRGBA{R: 0x90, G: 0x90, B: 0x90, A: 0xff}
}

func (m *MainView) hideSearchMsg() {
	m.searchMsg.Hide()
	m.left.Refresh()
}
