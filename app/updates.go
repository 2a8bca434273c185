package app

import (
	"context"
	"sync"

	"github.com/parleynet/parley/chat"
)

// Updates: every change the UI shows (contacts, messages, presence,
// typing, calls), by username, in order, through Options.OnUpdate.

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
