package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Direction tells a message or call the user made from one made to the
// user.
type Direction string

// The directions.
const (
	Incoming Direction = "in"  // from the contact to the user
	Outgoing Direction = "out" // from the user to the contact
)

// valid reports whether d is Incoming or Outgoing.
func (d Direction) valid() bool { return d == Incoming || d == Outgoing }

// MessageState is how far a message has got. Outgoing messages go
// MessagePending → MessageSent → MessageDelivered → MessageRead, or end as
// MessageFailed; incoming ones go MessageReceived → MessageRead. States
// only move forward (see SetMessageState).
type MessageState string

// The message states.
const (
	// MessagePending: outgoing, written to the database and queued, not yet
	// acknowledged by anyone.
	MessagePending MessageState = "pending"
	// MessageSent: outgoing, accepted by the network or the contact's data
	// channel.
	MessageSent MessageState = "sent"
	// MessageFailed: outgoing, given up on (its outbox entry expired). A
	// delivery or read receipt arriving later still moves it on.
	MessageFailed MessageState = "failed"
	// MessageDelivered: outgoing, the contact sent a delivery receipt.
	MessageDelivered MessageState = "delivered"
	// MessageRead: outgoing, the contact sent a read receipt; incoming, the
	// user has read it.
	MessageRead MessageState = "read"
	// MessageReceived: incoming, not yet read.
	MessageReceived MessageState = "received"
)

// messageRank orders the states a message in direction d can be in; ok is
// false if s is not one of them.
func messageRank(d Direction, s MessageState) (rank int, ok bool) {
	switch d {
	case Outgoing:
		switch s {
		case MessagePending:
			return 0, true
		case MessageSent:
			return 1, true
		case MessageFailed:
			return 2, true
		case MessageDelivered:
			return 3, true
		case MessageRead:
			return 4, true
		}
	case Incoming:
		switch s {
		case MessageReceived:
			return 0, true
		case MessageRead:
			return 1, true
		}
	}
	return 0, false
}

// Message is a chat message.
type Message struct {
	// ID is the local ID, assigned by AddMessage.
	ID int64
	// ContactID is the contact the conversation is with.
	ContactID int64
	// MsgID is the 16 random bytes the author chose; with Author it
	// identifies the message on the wire.
	MsgID [16]byte
	// Author is the node ID of whoever wrote the message: the contact's for
	// an incoming message, the user's own for an outgoing one.
	Author [32]byte
	// Direction is Incoming or Outgoing.
	Direction Direction
	// Body is the text.
	Body string
	// Sent is the author's timestamp; conversations are ordered by it.
	Sent time.Time
	// Received is the local time the message was received, or written if
	// it is outgoing.
	Received time.Time
	// State is how far the message has got.
	State MessageState
	// StateChanged is when State was last set.
	StateChanged time.Time
}

// MessageRef identifies a message on the wire.
type MessageRef struct {
	Author [32]byte
	MsgID  [16]byte
}

// Cursor is a position in a conversation for Messages: the page starts
// after the message with this Sent time and ID, newest first. The zero
// Cursor means the newest message.
type Cursor struct {
	Sent time.Time
	ID   int64
}

// Cursor returns the cursor that continues a page ending with m.
func (m Message) Cursor() Cursor { return Cursor{Sent: m.Sent, ID: m.ID} }

// checkMessage validates m for AddMessage and fills in defaults: the state
// (MessageReceived if incoming, MessagePending if outgoing) and the time it
// changed (Received).
func checkMessage(m *Message) error {
	if err := checkID("contact", m.ContactID); err != nil {
		return err
	}
	if m.MsgID == ([16]byte{}) {
		return errors.New("store: message ID is zero")
	}
	if m.Author == ([32]byte{}) {
		return fmt.Errorf("store: message %x: author node ID is zero", m.MsgID[:4])
	}
	if !m.Direction.valid() {
		return fmt.Errorf("store: message %x: unknown direction %q", m.MsgID[:4], m.Direction)
	}
	if m.State == "" {
		m.State = MessageReceived
		if m.Direction == Outgoing {
			m.State = MessagePending
		}
	}
	if _, ok := messageRank(m.Direction, m.State); !ok {
		return fmt.Errorf("store: message %x: %q is not a state of an %s message", m.MsgID[:4], m.State, directionWord(m.Direction))
	}
	if m.Sent.IsZero() || m.Received.IsZero() {
		return fmt.Errorf("store: message %x: sent and received times are required", m.MsgID[:4])
	}
	if m.StateChanged.IsZero() {
		m.StateChanged = m.Received
	}
	return nil
}

func directionWord(d Direction) string {
	if d == Incoming {
		return "incoming"
	}
	return "outgoing"
}

// contactExists returns an error wrapping ErrNotFound if there is no
// contact id.
func contactExists(ctx context.Context, tx *sql.Tx, id int64) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM contacts WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("contact %d: %w", id, ErrNotFound)
	}
	return err
}

// AddMessage stores m, which must have a contact ID, message ID, author,
// direction and sent and received times; an empty State defaults to
// MessageReceived for an incoming message and MessagePending for an
// outgoing one. If a message with the same author and message ID is already
// stored, AddMessage stores nothing and returns that message's ID with dup
// set: the receiver drops duplicates this way.
func (db *DB) AddMessage(ctx context.Context, m Message) (id int64, dup bool, err error) {
	if err := checkMessage(&m); err != nil {
		return 0, false, err
	}
	err = db.writeTx(ctx, fmt.Sprintf("adding message %x", m.MsgID[:4]), func(tx *sql.Tx) error {
		id, dup, err = addMessage(ctx, tx, m)
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return id, dup, nil
}

// addMessage inserts m, checked by checkMessage, unless (author, msg_id) is
// taken, in which case it returns the ID of the message holding it and dup.
func addMessage(ctx context.Context, tx *sql.Tx, m Message) (id int64, dup bool, err error) {
	if err := contactExists(ctx, tx, m.ContactID); err != nil {
		return 0, false, err
	}
	err = tx.QueryRowContext(ctx,
		`INSERT INTO messages (contact_id, msg_id, author, direction, body, sent_at, received_at, state, state_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (author, msg_id) DO NOTHING
		 RETURNING id`,
		m.ContactID, m.MsgID[:], m.Author[:], m.Direction, m.Body,
		toMillis(m.Sent), toMillis(m.Received), m.State, toMillis(m.StateChanged),
	).Scan(&id)
	if !errors.Is(err, sql.ErrNoRows) {
		return id, false, err
	}
	err = tx.QueryRowContext(ctx, `SELECT id FROM messages WHERE author = ? AND msg_id = ?`,
		m.Author[:], m.MsgID[:]).Scan(&id)
	return id, true, err
}

// messageColumns are the columns scanMessage reads, in order.
const messageColumns = `m.id, m.contact_id, m.msg_id, m.author, m.direction, m.body,
	m.sent_at, m.received_at, m.state, m.state_at`

// nullMessage holds messageColumns scanned from a LEFT JOIN, where they may
// all be NULL.
type nullMessage struct {
	id, contactID                sql.NullInt64
	msgID, author                []byte
	direction, body, state       sql.NullString
	sent, received, stateChanged sql.NullInt64
}

// dest returns the scan destinations for messageColumns.
func (n *nullMessage) dest() []any {
	return []any{&n.id, &n.contactID, &n.msgID, &n.author, &n.direction, &n.body,
		&n.sent, &n.received, &n.state, &n.stateChanged}
}

// message returns the scanned message, checking its IDs' lengths.
func (n *nullMessage) message() (Message, error) {
	m := Message{
		ID:           n.id.Int64,
		ContactID:    n.contactID.Int64,
		Direction:    Direction(n.direction.String),
		Body:         n.body.String,
		Sent:         fromMillis(n.sent.Int64),
		Received:     fromMillis(n.received.Int64),
		State:        MessageState(n.state.String),
		StateChanged: fromMillis(n.stateChanged.Int64),
	}
	if len(n.msgID) != len(m.MsgID) || len(n.author) != len(m.Author) {
		return Message{}, fmt.Errorf("message %d: bad message ID or author length (%d, %d)", m.ID, len(n.msgID), len(n.author))
	}
	copy(m.MsgID[:], n.msgID)
	copy(m.Author[:], n.author)
	return m, nil
}

// scanMessage reads messageColumns.
func scanMessage(s scanner) (Message, error) {
	var n nullMessage
	if err := s.Scan(n.dest()...); err != nil {
		return Message{}, err
	}
	return n.message()
}

// MessageByMsgID returns the message with the given author and message ID,
// or an error wrapping ErrNotFound.
func (db *DB) MessageByMsgID(ctx context.Context, author [32]byte, msgID [16]byte) (Message, error) {
	m, err := scanMessage(db.r.QueryRowContext(ctx,
		`SELECT `+messageColumns+` FROM messages m WHERE m.author = ? AND m.msg_id = ?`, author[:], msgID[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("store: message %x: %w", msgID[:4], ErrNotFound)
	}
	if err != nil {
		return Message{}, fmt.Errorf("store: reading message %x: %w", msgID[:4], err)
	}
	return m, nil
}

// SetMessageState moves the message with the given author and message ID
// to state, and reports whether it changed. States only move forward: for
// an outgoing message pending → sent → failed → delivered → read (a late
// "sent" after "delivered", or "delivered" after "read", changes nothing,
// while a receipt for a message given up on still counts); for an incoming
// one received → read. A state the message's direction does not have is an
// error, and so is an unknown message (wrapping ErrNotFound).
func (db *DB) SetMessageState(ctx context.Context, author [32]byte, msgID [16]byte, state MessageState, now time.Time) (changed bool, err error) {
	if _, okOut := messageRank(Outgoing, state); !okOut {
		if _, okIn := messageRank(Incoming, state); !okIn {
			return false, fmt.Errorf("store: message %x: unknown state %q", msgID[:4], state)
		}
	}
	err = db.writeTx(ctx, fmt.Sprintf("setting message %x state", msgID[:4]), func(tx *sql.Tx) error {
		var (
			id  int64
			dir Direction
			cur MessageState
		)
		err := tx.QueryRowContext(ctx, `SELECT id, direction, state FROM messages WHERE author = ? AND msg_id = ?`,
			author[:], msgID[:]).Scan(&id, &dir, &cur)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		to, ok := messageRank(dir, state)
		if !ok {
			return fmt.Errorf("%q is not a state of an %s message", state, directionWord(dir))
		}
		from, _ := messageRank(dir, cur)
		if to <= from {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET state = ?, state_at = ? WHERE id = ?`,
			state, toMillis(now), id); err != nil {
			return err
		}
		changed = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}

// MarkRead marks read the unread incoming messages of contact contactID
// sent at or before upTo (their Sent time, which orders the conversation:
// pass the Sent of the newest message the user has seen) and returns them,
// so that read receipts can be sent.
func (db *DB) MarkRead(ctx context.Context, contactID int64, upTo, now time.Time) ([]MessageRef, error) {
	var refs []MessageRef
	err := db.writeTx(ctx, fmt.Sprintf("marking contact %d messages read", contactID), func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx,
			`UPDATE messages SET state = 'read', state_at = ?
			 WHERE contact_id = ? AND direction = 'in' AND state = 'received' AND sent_at <= ?
			 RETURNING author, msg_id`,
			toMillis(now), contactID, toMillis(upTo))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var author, msgID []byte
			if err := rows.Scan(&author, &msgID); err != nil {
				return err
			}
			var r MessageRef
			if len(author) != len(r.Author) || len(msgID) != len(r.MsgID) {
				return fmt.Errorf("bad message ID or author length (%d, %d)", len(msgID), len(author))
			}
			copy(r.Author[:], author)
			copy(r.MsgID[:], msgID)
			refs = append(refs, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return refs, nil
}

// Messages returns up to limit messages of the conversation with contact
// contactID that come after the cursor before, newest first: ordered by
// Sent and then by ID, both descending. The zero Cursor starts at the newest
// message; to get the next (older) page pass the last message's Cursor.
func (db *DB) Messages(ctx context.Context, contactID int64, before Cursor, limit int) ([]Message, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	var (
		rows *sql.Rows
		err  error
	)
	if before.Sent.IsZero() && before.ID == 0 {
		rows, err = db.r.QueryContext(ctx,
			`SELECT `+messageColumns+` FROM messages m
			 WHERE m.contact_id = ?
			 ORDER BY m.sent_at DESC, m.id DESC LIMIT ?`,
			contactID, limit)
	} else {
		rows, err = db.r.QueryContext(ctx,
			`SELECT `+messageColumns+` FROM messages m
			 WHERE m.contact_id = ? AND (m.sent_at, m.id) < (?, ?)
			 ORDER BY m.sent_at DESC, m.id DESC LIMIT ?`,
			contactID, toMillis(before.Sent), before.ID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading messages: %w", err)
	}
	defer rows.Close()
	msgs := make([]Message, 0, min(limit, 256))
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("store: reading messages: %w", err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading messages: %w", err)
	}
	return msgs, nil
}

// CountMessages returns the number of messages in the conversation with
// contact contactID.
func (db *DB) CountMessages(ctx context.Context, contactID int64) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE contact_id = ?`, contactID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: counting messages: %w", err)
	}
	return n, nil
}
