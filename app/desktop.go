package app

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/parleynet/parley/call"
	"github.com/parleynet/parley/chat"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/store"
)

// What the desktop UI needs beyond the CLI's calls: updates by username,
// paged history, typing, the call log, call control by ID, the user's own
// presence and settings kept in the profile.

// Update is a change for the UI to show: one field is set.
type Update struct {
	Contact  *ContactInfo    // a contact was added or changed
	Message  *MessageUpdate  // a message is new or its state changed
	Presence *PresenceUpdate // an accepted contact's presence changed
	Typing   *TypingUpdate   // a contact started or stopped typing
	Call     *CallUpdate     // a call changed
}

// MessageUpdate is a message in the conversation with Username.
type MessageUpdate struct {
	Username string
	MessageInfo
}

// PresenceUpdate is a contact's new presence: online, away or offline.
type PresenceUpdate struct {
	Username string
	Presence string
}

// TypingUpdate says whether Username is typing.
type TypingUpdate struct {
	Username string
	On       bool
}

// CallUpdate is a call's change: Event is one of dialing, incoming,
// ringing, connecting, connected, interrupted, resumed, ended.
type CallUpdate struct {
	Event string
	CallInfo
}

// updates is the queue between the peer's goroutines, which must not
// block, and Options.OnUpdate, which may take its time: it never drops.
type updates struct {
	mu     sync.Mutex
	queue  []func() (Update, bool)
	wake   chan struct{}
	closed bool
}

func newUpdates() *updates { return &updates{wake: make(chan struct{}, 1)} }

// push queues make, which builds the update on the delivering goroutine
// (where reading the database is fine); ok false skips it.
func (u *updates) push(make func() (Update, bool)) {
	u.mu.Lock()
	u.queue = append(u.queue, make)
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// run delivers updates to fn until ctx is done.
func (u *updates) run(ctx context.Context, fn func(Update)) {
	for {
		u.mu.Lock()
		q := u.queue
		u.queue = nil
		u.mu.Unlock()
		for _, make := range q {
			if up, ok := make(); ok {
				fn(up)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
		}
	}
}

// onChatEvent turns chat's events into updates by username.
func (p *Peer) onChatEvent(ev chat.Event) {
	if p.opts.onChatEvent != nil {
		p.opts.onChatEvent(ev)
	}
	if p.opts.OnUpdate == nil {
		return
	}
	switch {
	case ev.Contact != nil:
		c := *ev.Contact
		p.updates.push(func() (Update, bool) {
			ci := p.contactInfo(c)
			return Update{Contact: &ci}, true
		})
	case ev.Message != nil:
		m := *ev.Message
		p.updates.push(func() (Update, bool) {
			name, ok := p.usernameOf(m.ContactID)
			return Update{Message: &MessageUpdate{Username: name, MessageInfo: MessageInfoOf(m)}}, ok
		})
	case ev.Presence != nil:
		pc := *ev.Presence
		p.updates.push(func() (Update, bool) {
			name, ok := p.usernameOf(pc.ContactID)
			return Update{Presence: &PresenceUpdate{Username: name, Presence: statusName(pc.Status)}}, ok
		})
	case ev.Typing != nil:
		t := *ev.Typing
		p.updates.push(func() (Update, bool) {
			name, ok := p.usernameOf(t.ContactID)
			return Update{Typing: &TypingUpdate{Username: name, On: t.On}}, ok
		})
	}
}

func (p *Peer) usernameOf(contactID int64) (string, bool) {
	c, err := p.prof.DB.Contact(context.Background(), contactID)
	if err != nil {
		p.log.Warn("update for an unknown contact", "contact", contactID, "err", err)
		return "", false
	}
	return c.Username, true
}

// MessagesBefore returns up to limit messages with the contact name that
// come before before (nil: the newest), oldest first. It does not mark
// anything read.
func (p *Peer) MessagesBefore(ctx context.Context, name string, before *MessageInfo, limit int) ([]MessageInfo, error) {
	if err := p.needChat(); err != nil {
		return nil, err
	}
	c, err := p.contactByName(ctx, name)
	if err != nil {
		return nil, err
	}
	var cur store.Cursor
	if before != nil {
		cur = store.Cursor{Sent: before.Sent, ID: before.Key}
	}
	ms, err := p.prof.DB.Messages(ctx, c.ID, cur, limit)
	if err != nil {
		return nil, err
	}
	out := make([]MessageInfo, len(ms))
	for i, m := range ms {
		out[len(ms)-1-i] = MessageInfoOf(m)
	}
	return out, nil
}

// MarkRead marks the conversation with name read and tells the contact.
func (p *Peer) MarkRead(ctx context.Context, name string) error {
	if err := p.needChat(); err != nil {
		return err
	}
	c, err := p.contactByName(ctx, name)
	if err != nil {
		return err
	}
	return p.chat.MarkRead(ctx, c.ID)
}

// SetTyping tells the contact name that the user is (or stopped) typing.
func (p *Peer) SetTyping(ctx context.Context, name string, on bool) error {
	if err := p.needChat(); err != nil {
		return err
	}
	c, err := p.contactByName(ctx, name)
	if err != nil {
		return err
	}
	return p.chat.SetTyping(ctx, c.ID, on)
}

// CallLogEntry is one call of the call log, for display.
type CallLogEntry struct {
	ID       string    `json:"id"`
	Username string    `json:"username"`
	Incoming bool      `json:"incoming"`
	Started  time.Time `json:"started"`
	Answered time.Time `json:"answered,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
	Outcome  string    `json:"outcome,omitempty"` // answered, missed, declined, busy, cancelled, failed; empty while going on
	Reason   string    `json:"reason,omitempty"`
}

// Duration is how long the call was connected.
func (e CallLogEntry) Duration() time.Duration {
	if e.Answered.IsZero() || e.Ended.IsZero() {
		return 0
	}
	return e.Ended.Sub(e.Answered)
}

// CallLog returns the last limit calls with the contact name, oldest first.
func (p *Peer) CallLog(ctx context.Context, name string, limit int) ([]CallLogEntry, error) {
	if err := p.needChat(); err != nil {
		return nil, err
	}
	c, err := p.contactByName(ctx, name)
	if err != nil {
		return nil, err
	}
	cs, err := p.prof.DB.Calls(ctx, c.ID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]CallLogEntry, len(cs))
	for i, k := range cs {
		out[len(cs)-1-i] = CallLogEntry{
			ID: hex.EncodeToString(k.CallID[:]), Username: c.Username, Incoming: k.Direction == store.Incoming,
			Started: k.Started, Answered: k.Answered, Ended: k.Ended, Outcome: string(k.Outcome), Reason: k.Reason,
		}
	}
	return out, nil
}

// ErrNoCall is returned for a call ID that names no current call.
var ErrNoCall = errors.New("app: no such call")

func (p *Peer) callID(id string) (call.ID, error) {
	var cid call.ID
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != len(cid) || p.calls == nil {
		return cid, fmt.Errorf("%w: %q", ErrNoCall, id)
	}
	copy(cid[:], b)
	return cid, nil
}

// AnswerCall accepts the ringing incoming call id.
func (p *Peer) AnswerCall(id string) error {
	cid, err := p.callID(id)
	if err != nil {
		return err
	}
	if err := p.audioReady(); err != nil {
		p.calls.Decline(cid)
		return err
	}
	return p.calls.Accept(cid)
}

// DeclineCall declines the ringing incoming call id.
func (p *Peer) DeclineCall(id string) error {
	cid, err := p.callID(id)
	if err != nil {
		return err
	}
	return p.calls.Decline(cid)
}

// HangUp ends (or cancels) the call id.
func (p *Peer) HangUp(id string) error {
	cid, err := p.callID(id)
	if err != nil {
		return err
	}
	return p.calls.Hangup(cid)
}

// SetCallMuted mutes or unmutes the microphone in call id.
func (p *Peer) SetCallMuted(id string, muted bool) error {
	cid, err := p.callID(id)
	if err != nil {
		return err
	}
	return p.calls.SetMuted(cid, muted)
}

// CallLevels returns the input (microphone) and output levels of call id
// for a meter: 0 for -60 dBFS or less up to 1 for full scale; ok is false
// when the call has no audio yet.
func (p *Peer) CallLevels(id string) (in, out float64, ok bool) {
	cid, err := p.callID(id)
	if err != nil {
		return 0, 0, false
	}
	in, out, ok = p.calls.Levels(cid)
	meter := func(dB float64) float64 { return min(1, max(0, (dB+60)/60)) }
	return meter(in), meter(out), ok
}

// The user's own presence as they choose it.
const (
	PresenceOnline    = "online"
	PresenceAway      = "away"
	PresenceInvisible = "invisible" // appear offline: letters wait in mailboxes, fetched every 10 s
)

// SetPresence publishes the user's chosen presence: online, away or
// invisible. It is remembered in the settings.
func (p *Peer) SetPresence(ctx context.Context, presence string) error {
	if p.leaf == nil {
		return errors.New("app: a seed has no presence")
	}
	st, ok := presenceStatus(presence)
	if !ok {
		return fmt.Errorf("app: unknown presence %q", presence)
	}
	s, err := p.prof.Settings(ctx)
	if err != nil {
		return err
	}
	s.Presence = presence
	if err := p.prof.SaveSettings(ctx, s); err != nil {
		return err
	}
	if err := p.leaf.SetPresence(ctx, st); err != nil && !errors.Is(err, overlay.ErrUnavailable) {
		return err
	}
	return nil
}

// presenceStatus is the status published for the user's chosen presence.
func presenceStatus(presence string) (uint8, bool) {
	switch presence {
	case PresenceOnline:
		return wire.StatusOnline, true
	case PresenceAway:
		return wire.StatusAway, true
	case PresenceInvisible:
		return wire.StatusOffline, true
	}
	return 0, false
}

// Settings are the user's choices, kept in the profile (so an exported
// profile takes them along).
type Settings struct {
	// Seeds replace the built-in seeds when not empty (host:port or
	// NODEID@host:port).
	Seeds []string `json:"seeds,omitempty"`
	// InputDevice and OutputDevice name the sound devices ("" is the
	// system's default).
	InputDevice  string `json:"input_device,omitempty"`
	OutputDevice string `json:"output_device,omitempty"`
	// StartAtLogin starts Parley when the user logs in.
	StartAtLogin bool `json:"start_at_login"`
	// NotifyMessages and NotifyCalls show desktop notifications when the
	// window is not focused; Sounds plays the message sound and ringtone.
	NotifyMessages bool `json:"notify_messages"`
	NotifyCalls    bool `json:"notify_calls"`
	Sounds         bool `json:"sounds"`
	// CloseToTray keeps Parley running in the tray when the window closes.
	CloseToTray bool `json:"close_to_tray"`
	// Presence is the user's chosen presence (online, away, invisible).
	Presence string `json:"presence,omitempty"`
	// WindowWidth and WindowHeight are the window's last size.
	WindowWidth  float32 `json:"window_width,omitempty"`
	WindowHeight float32 `json:"window_height,omitempty"`
}

// DefaultSettings are the settings of a new profile.
func DefaultSettings() Settings {
	return Settings{NotifyMessages: true, NotifyCalls: true, Sounds: true, CloseToTray: true, Presence: PresenceOnline}
}

const settingUI = "ui_settings"

// Settings returns the profile's settings; defaults for what was never
// set. A damaged value gives the defaults, not an error: settings must
// never keep the app from starting.
func (p *Profile) Settings(ctx context.Context) (Settings, error) {
	s := DefaultSettings()
	v, err := p.DB.Setting(ctx, settingUI)
	if errors.Is(err, store.ErrNotFound) {
		return s, nil
	} else if err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return DefaultSettings(), nil
	}
	switch s.Presence {
	case PresenceOnline, PresenceAway, PresenceInvisible:
	default:
		s.Presence = PresenceOnline
	}
	return s, nil
}

// SaveSettings stores s in the profile, after checking its seeds.
func (p *Profile) SaveSettings(ctx context.Context, s Settings) error {
	if _, err := ParseSeeds(s.Seeds); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return p.DB.SetSetting(ctx, settingUI, string(b))
}

// Seeds are bootstrap supernodes, as ParseSeeds reads them; nil means the
// built-in seeds.
type Seeds []overlay.SeedAddr

// ParseSeeds parses seed addresses (host:port or NODEID@host:port); an
// empty list gives nil, which means the built-in seeds.
func ParseSeeds(list []string) (Seeds, error) {
	var clean []string
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			clean = append(clean, s)
		}
	}
	if len(clean) == 0 {
		return nil, nil
	}
	seeds, err := overlay.ParseSeeds(strings.Join(clean, ","))
	if err != nil {
		return nil, fmt.Errorf("app: seeds: %w", err)
	}
	return seeds, nil
}

// autostartFile is the XDG autostart entry that starts Parley at login.
func autostartFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "autostart", "chat.parley.desktop"), nil
}

// SetStartAtLogin adds or removes the entry that starts Parley (this
// executable, on profile dir) when the user logs in. Only freedesktop
// systems (Linux, BSD) are supported so far.
func SetStartAtLogin(on bool, profileDir string) error {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		return fmt.Errorf("app: starting at login is not supported on %s yet", runtime.GOOS)
	}
	path, err := autostartFile()
	if err != nil {
		return fmt.Errorf("app: start at login: %w", err)
	}
	if !on {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("app: start at login: %w", err)
		}
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("app: start at login: %w", err)
	}
	entry := fmt.Sprintf("[Desktop Entry]\nType=Application\nName=Parley\nComment=Peer-to-peer messaging and voice calls\nExec=%s --profile %s --minimized\nIcon=chat.parley.desktop\nX-GNOME-Autostart-enabled=true\n",
		desktopQuote(exe), desktopQuote(profileDir))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("app: start at login: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(entry), 0o644); err != nil {
		return fmt.Errorf("app: start at login: %w", err)
	}
	return os.Rename(tmp, path)
}

// desktopQuote quotes an argument of a desktop entry's Exec key.
func desktopQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\\\`, `"`, `\\"`, "`", "\\\\`", `$`, `\\$`)
	return `"` + r.Replace(s) + `"`
}
