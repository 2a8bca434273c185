package app

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/parleynet/parley/chat"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/store"
)

// Contacts and conversations as the UI and the CLI see them: by username.

// ContactInfo is one contact, for display.
type ContactInfo struct {
	ID           int64     `json:"id"`
	Username     string    `json:"username"`
	State        string    `json:"state"`
	Presence     string    `json:"presence"`
	Fingerprint  string    `json:"fingerprint"`
	SafetyNumber string    `json:"safety_number"`
	Verified     bool      `json:"verified"`
	KeyChanged   bool      `json:"key_changed,omitempty"` // a new key waits for the user's acceptance
	Request      string    `json:"request,omitempty"`     // the request's message
	Unread       int       `json:"unread,omitempty"`
	Last         string    `json:"last,omitempty"` // the last message's text
	Updated      time.Time `json:"updated"`
}

// MessageInfo is one message, for display.
type MessageInfo struct {
	ID       string    `json:"id"`  // hex of the message ID
	Key      int64     `json:"key"` // local ID: with Sent, the place in the conversation
	Incoming bool      `json:"incoming"`
	Body     string    `json:"body"`
	Sent     time.Time `json:"sent"`
	State    string    `json:"state"`
}

func (p *Peer) contactInfo(c store.Contact) ContactInfo {
	ci := ContactInfo{
		ID: c.ID, Username: c.Username, State: string(c.State),
		Fingerprint:  identity.Fingerprint(c.PublicKey),
		SafetyNumber: chat.SafetyNumber(p.prof.Identity.PublicKey(), c.PublicKey),
		Verified:     c.Verified, KeyChanged: c.PendingKey != nil, Request: c.RequestMessage, Updated: c.Updated,
		Presence: "offline",
	}
	if c.State == store.ContactAccepted && p.chat != nil {
		ci.Presence = statusName(p.chat.Presence(c.ID))
	}
	return ci
}

// MessageInfoOf returns the display form of m.
func MessageInfoOf(m store.Message) MessageInfo {
	return MessageInfo{ID: hex.EncodeToString(m.MsgID[:]), Key: m.ID, Incoming: m.Direction == store.Incoming, Body: m.Body, Sent: m.Sent, State: string(m.State)}
}

// Contacts lists the contacts with their last message and unread count,
// most recently active first.
func (p *Peer) Contacts(ctx context.Context) ([]ContactInfo, error) {
	sums, err := p.prof.DB.ContactSummaries(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ContactInfo, 0, len(sums))
	for _, s := range sums {
		ci := p.contactInfo(s.Contact)
		ci.Unread = s.Unread
		if s.Last != nil {
			ci.Last = s.Last.Body
		}
		out = append(out, ci)
	}
	return out, nil
}

// contactByName returns the contact with username name.
func (p *Peer) contactByName(ctx context.Context, name string) (store.Contact, error) {
	n, err := NormalizeUsername(name)
	if err != nil {
		return store.Contact{}, err
	}
	c, err := p.prof.DB.ContactByUsername(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return c, fmt.Errorf("%w: %s", ErrNoContact, n)
	}
	return c, err
}

func (p *Peer) needChat() error {
	if p.chat == nil {
		return errors.New("app: a seed has no contacts")
	}
	return nil
}

// AddContact looks name up and sends a contact request with message.
func (p *Peer) AddContact(ctx context.Context, name, message string) (ContactInfo, error) {
	if err := p.needChat(); err != nil {
		return ContactInfo{}, err
	}
	c, err := p.chat.AddContact(ctx, name, message)
	if err != nil {
		return ContactInfo{}, err
	}
	return p.contactInfo(c), nil
}

// ContactAction is something the user does to a contact.
type ContactAction string

// Contact actions.
const (
	ActionAccept    ContactAction = "accept"
	ActionDecline   ContactAction = "decline"
	ActionBlock     ContactAction = "block"
	ActionRemove    ContactAction = "remove"
	ActionVerify    ContactAction = "verify"
	ActionUnverify  ContactAction = "unverify"
	ActionAcceptKey ContactAction = "accept-key"
)

// Act applies action to the contact name.
func (p *Peer) Act(ctx context.Context, name string, action ContactAction) (ContactInfo, error) {
	if err := p.needChat(); err != nil {
		return ContactInfo{}, err
	}
	c, err := p.contactByName(ctx, name)
	if err != nil {
		return ContactInfo{}, err
	}
	switch action {
	case ActionAccept:
		if c.State != store.ContactIncoming {
			return ContactInfo{}, fmt.Errorf("app: %s has not asked to be a contact (%s)", c.Username, c.State)
		}
		err = p.chat.Accept(ctx, c.ID)
	case ActionDecline:
		err = p.chat.Decline(ctx, c.ID)
	case ActionBlock:
		err = p.chat.Block(ctx, c.ID)
	case ActionRemove:
		err = p.chat.Remove(ctx, c.ID)
	case ActionVerify, ActionUnverify:
		err = p.chat.SetVerified(ctx, c.ID, action == ActionVerify)
	case ActionAcceptKey:
		err = p.chat.AcceptNewKey(ctx, c.ID)
	default:
		err = fmt.Errorf("app: unknown contact action %q", action)
	}
	if err != nil {
		return ContactInfo{}, err
	}
	if c, err = p.prof.DB.Contact(ctx, c.ID); err != nil {
		return ContactInfo{}, err
	}
	return p.contactInfo(c), nil
}

// Send writes text to the contact name; it is stored before Send returns
// and delivered as soon as possible.
func (p *Peer) Send(ctx context.Context, name, text string) (MessageInfo, error) {
	if err := p.needChat(); err != nil {
		return MessageInfo{}, err
	}
	c, err := p.contactByName(ctx, name)
	if err != nil {
		return MessageInfo{}, err
	}
	m, err := p.chat.Send(ctx, c.ID, text)
	if err != nil {
		return MessageInfo{}, err
	}
	return MessageInfoOf(m), nil
}

// Messages returns the last limit messages with the contact name, oldest
// first, and marks the conversation read.
func (p *Peer) Messages(ctx context.Context, name string, limit int) ([]MessageInfo, error) {
	out, err := p.MessagesBefore(ctx, name, nil, limit)
	if err != nil {
		return nil, err
	}
	if err := p.MarkRead(ctx, name); err != nil {
		p.log.Warn("marking read", "err", err)
	}
	return out, nil
}
