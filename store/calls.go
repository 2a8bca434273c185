package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CallOutcome is how a call ended.
type CallOutcome string

// The call outcomes.
const (
	CallAnswered  CallOutcome = "answered"  // it was answered (and has ended)
	CallMissed    CallOutcome = "missed"    // it rang out unanswered
	CallDeclined  CallOutcome = "declined"  // the callee declined it
	CallBusy      CallOutcome = "busy"      // the callee was in another call
	CallCancelled CallOutcome = "cancelled" // the caller hung up before an answer
	CallFailed    CallOutcome = "failed"    // it could not be set up or broke
)

// valid reports whether o is one of the call outcomes.
func (o CallOutcome) valid() bool {
	switch o {
	case CallAnswered, CallMissed, CallDeclined, CallBusy, CallCancelled, CallFailed:
		return true
	}
	return false
}

// Call is an entry of the call log.
type Call struct {
	// ID is the local ID, assigned by AddCall.
	ID int64
	// ContactID is the contact called or calling.
	ContactID int64
	// CallID is the 16-byte ID of the call on the wire.
	CallID [16]byte
	// Direction is Outgoing if the user called, Incoming if the contact did.
	Direction Direction
	// Started is when the call began ringing.
	Started time.Time
	// Answered is when it was answered; the zero time if it was not.
	Answered time.Time
	// Ended is when it ended; the zero time while it is going on.
	Ended time.Time
	// Outcome is how it ended; empty while it is going on.
	Outcome CallOutcome
	// Reason is free text explaining the outcome, such as an error.
	Reason string
}

// nullMillis converts t to unix milliseconds, the zero time to NULL.
func nullMillis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// AddCall adds c to the call log and returns its ID (c.ID is ignored). It
// needs a contact, a call ID, a direction and a start time; a call can be
// logged already finished by giving both Ended and Outcome. A call ID that is
// already logged gives an error wrapping ErrExists.
func (db *DB) AddCall(ctx context.Context, c Call) (int64, error) {
	if err := checkID("contact", c.ContactID); err != nil {
		return 0, err
	}
	if c.CallID == ([16]byte{}) {
		return 0, errors.New("store: call ID is zero")
	}
	if !c.Direction.valid() {
		return 0, fmt.Errorf("store: call %x: unknown direction %q", c.CallID[:4], c.Direction)
	}
	if c.Started.IsZero() {
		return 0, fmt.Errorf("store: call %x: start time is required", c.CallID[:4])
	}
	if c.Outcome != "" && !c.Outcome.valid() {
		return 0, fmt.Errorf("store: call %x: unknown outcome %q", c.CallID[:4], c.Outcome)
	}
	if (c.Outcome == "") != c.Ended.IsZero() {
		return 0, fmt.Errorf("store: call %x: a finished call needs both an end time and an outcome", c.CallID[:4])
	}
	var outcome any
	if c.Outcome != "" {
		outcome = c.Outcome
	}
	var id int64
	err := db.writeTx(ctx, fmt.Sprintf("adding call %x", c.CallID[:4]), func(tx *sql.Tx) error {
		if err := contactExists(ctx, tx, c.ContactID); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx,
			`INSERT INTO calls (contact_id, call_id, direction, started_at, answered_at, ended_at, outcome, reason)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			c.ContactID, c.CallID[:], c.Direction, toMillis(c.Started), nullMillis(c.Answered),
			nullMillis(c.Ended), outcome, c.Reason,
		).Scan(&id)
		if isUnique(err) {
			return fmt.Errorf("call ID already logged: %w", ErrExists)
		}
		return err
	})
	return id, err
}

// SetCallAnswered records that call callID was answered at at. A call that
// was already answered or has finished is left as it was; an unknown call
// gives an error wrapping ErrNotFound.
func (db *DB) SetCallAnswered(ctx context.Context, callID [16]byte, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("store: call %x: answer time is required", callID[:4])
	}
	_, err := db.updateCall(ctx, callID, fmt.Sprintf("recording call %x answered", callID[:4]),
		`UPDATE calls SET answered_at = ? WHERE call_id = ? AND answered_at IS NULL AND ended_at IS NULL`,
		toMillis(at), callID[:])
	return err
}

// FinishCall records how call callID ended and reports whether it did: a
// call that has already finished keeps its first outcome and FinishCall
// returns false. An unknown call gives an error wrapping ErrNotFound.
func (db *DB) FinishCall(ctx context.Context, callID [16]byte, outcome CallOutcome, reason string, ended time.Time) (bool, error) {
	if !outcome.valid() {
		return false, fmt.Errorf("store: call %x: unknown outcome %q", callID[:4], outcome)
	}
	if ended.IsZero() {
		return false, fmt.Errorf("store: call %x: end time is required", callID[:4])
	}
	return db.updateCall(ctx, callID, fmt.Sprintf("finishing call %x", callID[:4]),
		`UPDATE calls SET outcome = ?, reason = ?, ended_at = ? WHERE call_id = ? AND ended_at IS NULL`,
		outcome, reason, toMillis(ended), callID[:])
}

// updateCall runs an UPDATE of call callID and reports whether it changed
// it, returning an error wrapping ErrNotFound if there is no such call.
func (db *DB) updateCall(ctx context.Context, callID [16]byte, what, query string, args ...any) (changed bool, err error) {
	err = db.writeTx(ctx, what, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n > 0 {
			changed = n > 0
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM calls WHERE call_id = ?`, callID[:]).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}

// callColumns are the columns scanCall reads, in order.
const callColumns = `id, contact_id, call_id, direction, started_at, answered_at, ended_at, outcome, reason`

// scanCall reads callColumns.
func scanCall(s scanner) (Call, error) {
	var (
		c               Call
		callID          []byte
		started         int64
		answered, ended sql.NullInt64
		outcome         sql.NullString
	)
	if err := s.Scan(&c.ID, &c.ContactID, &callID, &c.Direction, &started, &answered, &ended, &outcome, &c.Reason); err != nil {
		return Call{}, err
	}
	if len(callID) != len(c.CallID) {
		return Call{}, fmt.Errorf("call %d: call_id is %d bytes, want %d", c.ID, len(callID), len(c.CallID))
	}
	copy(c.CallID[:], callID)
	c.Started = fromMillis(started)
	if answered.Valid {
		c.Answered = time.UnixMilli(answered.Int64)
	}
	if ended.Valid {
		c.Ended = time.UnixMilli(ended.Int64)
	}
	c.Outcome = CallOutcome(outcome.String)
	return c, nil
}

// Calls returns up to limit calls with contact contactID, newest first.
func (db *DB) Calls(ctx context.Context, contactID int64, limit int) ([]Call, error) {
	return db.calls(ctx, `WHERE contact_id = ?`, limit, contactID)
}

// RecentCalls returns up to limit calls with anyone, newest first.
func (db *DB) RecentCalls(ctx context.Context, limit int) ([]Call, error) {
	return db.calls(ctx, ``, limit)
}

// calls returns up to limit calls matching where (with args), newest
// first.
func (db *DB) calls(ctx context.Context, where string, limit int, args ...any) ([]Call, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx,
		`SELECT `+callColumns+` FROM calls `+where+` ORDER BY started_at DESC, id DESC LIMIT ?`,
		append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: reading calls: %w", err)
	}
	defer rows.Close()
	var calls []Call
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("store: reading calls: %w", err)
		}
		calls = append(calls, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading calls: %w", err)
	}
	return calls, nil
}
