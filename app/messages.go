package app

import (
	"context"

	"github.com/parleynet/parley/store"
)

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
