package store

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestAddMessageWithOutbox(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)

	m := outMsg(bob, 1, 100)
	mid, oid, err := db.AddMessageWithOutbox(ctx, m, OutboxItem{Kind: 1, Payload: []byte("sealed"),
		Created: ms(100), Expires: ms(10_000)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.MessageByMsgID(ctx, m.Author, m.MsgID)
	if err != nil || got.ID != mid || got.State != MessagePending {
		t.Errorf("message = %+v, %v; want ID %d, pending", got, err, mid)
	}
	due, err := db.DueOutbox(ctx, ms(100), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []OutboxItem{{ID: oid, ContactID: bob.ID, Kind: 1, MsgID: m.MsgID, Payload: []byte("sealed"),
		Created: ms(100), Expires: ms(10_000)}}
	if !reflect.DeepEqual(due, want) {
		t.Errorf("outbox:\n got %+v\nwant %+v (contact and message ID taken from the message)", due, want)
	}

	// The outbox insert fails (its contact does not exist) after the message
	// insert succeeded: the message must not stay behind.
	m2 := outMsg(bob, 2, 200)
	if _, _, err := db.AddMessageWithOutbox(ctx, m2, OutboxItem{ContactID: bob.ID + 100, Payload: []byte("x")}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AddMessageWithOutbox with a bad outbox contact: err = %v, want ErrNotFound", err)
	}
	if _, err := db.MessageByMsgID(ctx, m2.Author, m2.MsgID); !errors.Is(err, ErrNotFound) {
		t.Errorf("message of a failed AddMessageWithOutbox was stored (err %v)", err)
	}
	if n := countRows(t, db, "messages"); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}

	// The same message again: an error, and nothing queued twice.
	if _, _, err := db.AddMessageWithOutbox(ctx, m, OutboxItem{Payload: []byte("again")}); !errors.Is(err, ErrExists) {
		t.Errorf("AddMessageWithOutbox of a stored message: err = %v, want ErrExists", err)
	}
	if n := countRows(t, db, "outbox"); n != 1 {
		t.Errorf("%d outbox items, want 1", n)
	}

	// Invalid message or item: nothing written.
	bad := outMsg(bob, 3, 300)
	bad.Direction = "up"
	if _, _, err := db.AddMessageWithOutbox(ctx, bad, OutboxItem{}); err == nil {
		t.Error("AddMessageWithOutbox of an invalid message succeeded")
	}
	if _, _, err := db.AddMessageWithOutbox(ctx, outMsg(bob, 4, 400), OutboxItem{Attempts: -1}); err == nil {
		t.Error("AddMessageWithOutbox with negative attempts succeeded")
	}
	if n := countRows(t, db, "messages") + countRows(t, db, "outbox"); n != 2 {
		t.Errorf("%d messages and outbox items, want 2", n)
	}
}

// mustEnqueue adds it to db's outbox and returns its ID.
func mustEnqueue(t *testing.T, db *DB, it OutboxItem) int64 {
	t.Helper()
	id, err := db.Enqueue(context.Background(), it)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestOutbox(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)
	carol := addContact(t, db, "carol", 2)

	msg := msgID(bob.ID, 1)
	a := mustEnqueue(t, db, OutboxItem{ContactID: bob.ID, Kind: 1, MsgID: msg, Payload: []byte("a"), Created: ms(1), NextAttempt: ms(50), Expires: ms(1000)})
	b := mustEnqueue(t, db, OutboxItem{ContactID: bob.ID, Kind: 2, MsgID: msg, Payload: nil, Created: ms(2)}) // receipt: due now, never expires
	c := mustEnqueue(t, db, OutboxItem{ContactID: carol.ID, Kind: 1, MsgID: msg, Payload: []byte("c"), Created: ms(3), NextAttempt: ms(10), Expires: ms(500)})
	d := mustEnqueue(t, db, OutboxItem{ContactID: carol.ID, Kind: 1, MsgID: msgID(carol.ID, 2), Payload: []byte("d"), Created: ms(4), NextAttempt: ms(200), Attempts: 3, Expires: ms(300)})

	ids := func(items []OutboxItem) []int64 {
		var out []int64
		for _, it := range items {
			out = append(out, it.ID)
		}
		return out
	}
	due := func(now time.Time, limit int) []int64 {
		t.Helper()
		items, err := db.DueOutbox(ctx, now, limit)
		if err != nil {
			t.Fatal(err)
		}
		return ids(items)
	}
	for _, tc := range []struct {
		now   time.Time
		limit int
		want  []int64
	}{
		{ms(0), 10, []int64{b}},
		{ms(10), 10, []int64{b, c}},
		{ms(50), 10, []int64{a, b, c}},
		{ms(50), 2, []int64{a, b}},
		{ms(250), 10, []int64{a, b, c, d}},
		{ms(300), 10, []int64{a, b, c}}, // d expired
		{ms(2000), 10, []int64{b}},      // only b never expires
	} {
		if got := due(tc.now, tc.limit); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("DueOutbox(%v, %d) = %v, want %v", tc.now.Sub(t0), tc.limit, got, tc.want)
		}
	}
	items, _ := db.DueOutbox(ctx, ms(250), 10)
	wantD := OutboxItem{ID: d, ContactID: carol.ID, Kind: 1, MsgID: msgID(carol.ID, 2), Payload: []byte("d"),
		Created: ms(4), NextAttempt: ms(200), Attempts: 3, Expires: ms(300)}
	if len(items) != 4 || !reflect.DeepEqual(items[3], wantD) || len(items[1].Payload) != 0 {
		t.Errorf("DueOutbox items %+v", items)
	}

	if err := db.RescheduleOutbox(ctx, a, ms(400), 1); err != nil {
		t.Fatal(err)
	}
	if got := due(ms(250), 10); !reflect.DeepEqual(got, []int64{b, c, d}) {
		t.Errorf("after rescheduling a: due %v", got)
	}
	if items, _ := db.DueOutbox(ctx, ms(400), 1); len(items) != 1 || items[0].Attempts != 1 || !items[0].NextAttempt.Equal(ms(400)) {
		t.Errorf("rescheduled item: %+v", items)
	}
	if err := db.RescheduleOutbox(ctx, 9999, ms(1), 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("RescheduleOutbox(missing): err = %v, want ErrNotFound", err)
	}
	if err := db.RescheduleOutbox(ctx, a, ms(1), -1); err == nil {
		t.Error("RescheduleOutbox with negative attempts succeeded")
	}

	// The receipt for bob's message arrives: only bob's kind-1 item goes.
	if n, err := db.RemoveOutboxFor(ctx, bob.ID, 1, msg); err != nil || n != 1 {
		t.Errorf("RemoveOutboxFor = %d, %v; want 1", n, err)
	}
	if n, err := db.RemoveOutboxFor(ctx, bob.ID, 1, msg); err != nil || n != 0 {
		t.Errorf("RemoveOutboxFor again = %d, %v; want 0", n, err)
	}
	if got := due(ms(250), 10); !reflect.DeepEqual(got, []int64{b, c, d}) {
		t.Errorf("after RemoveOutboxFor: due %v", got)
	}

	expired, err := db.ExpireOutbox(ctx, ms(500))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids(expired), []int64{c, d}) || !reflect.DeepEqual(expired[1], wantD) {
		t.Errorf("ExpireOutbox = %+v, want c and d", expired)
	}
	if expired, _ := db.ExpireOutbox(ctx, ms(500)); len(expired) != 0 {
		t.Errorf("second ExpireOutbox = %v", expired)
	}
	if err := db.RemoveOutbox(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := db.RemoveOutbox(ctx, b); err != nil {
		t.Errorf("RemoveOutbox of a removed item: %v", err)
	}
	if n := countRows(t, db, "outbox"); n != 0 {
		t.Errorf("%d outbox items left", n)
	}

	for name, it := range map[string]OutboxItem{
		"no contact":        {Payload: []byte("x")},
		"missing contact":   {ContactID: 9999},
		"negative attempts": {ContactID: bob.ID, Attempts: -2},
	} {
		if _, err := db.Enqueue(ctx, it); err == nil {
			t.Errorf("Enqueue(%s) succeeded", name)
		}
	}
	if _, err := db.DueOutbox(ctx, ms(0), 0); err == nil {
		t.Error("DueOutbox with limit 0 succeeded")
	}
}

func TestSeenEnvelope(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	alice, bob := nodeID(1), nodeID(2)
	env := msgID(7, 7)

	seen := func(sender [32]byte, id [16]byte, exp time.Time) bool {
		t.Helper()
		first, err := db.SeenEnvelope(ctx, sender, id, exp)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}
	if !seen(alice, env, ms(100)) {
		t.Error("first sight of an envelope reported as seen")
	}
	for range 3 {
		if seen(alice, env, ms(100)) {
			t.Error("replayed envelope reported as new")
		}
	}
	if !seen(bob, env, ms(100)) {
		t.Error("same envelope ID from another sender reported as seen")
	}
	if !seen(alice, msgID(7, 8), ms(300)) {
		t.Error("another envelope from the same sender reported as seen")
	}

	// Concurrent deliveries of one envelope: exactly one is first.
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.SeenEnvelope(ctx, bob, msgID(9, 9), ms(100))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				first++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != 1 {
		t.Errorf("%d of 8 concurrent deliveries were first, want 1", first)
	}

	if n, err := db.PruneSeen(ctx, ms(99)); err != nil || n != 0 {
		t.Errorf("PruneSeen before any expiry = %d, %v", n, err)
	}
	if n, err := db.PruneSeen(ctx, ms(100)); err != nil || n != 3 {
		t.Errorf("PruneSeen(100) = %d, %v; want 3", n, err)
	}
	if seen(alice, msgID(7, 8), ms(300)) {
		t.Error("an unexpired envelope was forgotten by PruneSeen")
	}
	if !seen(alice, env, ms(400)) {
		t.Error("a pruned envelope is still remembered")
	}
	// An envelope whose processing failed is forgotten so that it can come
	// again; the others stay.
	if err := db.ForgetEnvelope(ctx, alice, env); err != nil {
		t.Fatal(err)
	}
	if err := db.ForgetEnvelope(ctx, alice, env); err != nil {
		t.Errorf("ForgetEnvelope of a forgotten envelope: %v", err)
	}
	if !seen(alice, env, ms(400)) {
		t.Error("a forgotten envelope is still remembered")
	}
	if seen(alice, msgID(7, 8), ms(300)) {
		t.Error("ForgetEnvelope forgot another envelope")
	}
	if _, err := db.SeenEnvelope(ctx, alice, msgID(1, 1), time.Time{}); err == nil {
		t.Error("SeenEnvelope without an expiry succeeded")
	}
}

func TestNextOutboxAttempt(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)
	next := func(now time.Time) (time.Time, bool) {
		t.Helper()
		at, ok, err := db.NextOutboxAttempt(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		return at, ok
	}
	if _, ok := next(ms(0)); ok {
		t.Error("an empty outbox has something due")
	}
	mustEnqueue(t, db, OutboxItem{ContactID: bob.ID, Kind: 1, Created: ms(1), NextAttempt: ms(50), Expires: ms(100)})
	late := mustEnqueue(t, db, OutboxItem{ContactID: bob.ID, Kind: 1, Created: ms(2), NextAttempt: ms(80)})
	if at, ok := next(ms(0)); !ok || !at.Equal(ms(50)) {
		t.Errorf("next = %v, %v; want 50 ms", at.Sub(t0), ok)
	}
	if at, ok := next(ms(100)); !ok || !at.Equal(ms(80)) {
		t.Errorf("with the first expired: next = %v, %v; want 80 ms", at.Sub(t0), ok)
	}
	now := mustEnqueue(t, db, OutboxItem{ContactID: bob.ID, Kind: 2, Created: ms(3)})
	if at, ok := next(ms(0)); !ok || !at.IsZero() {
		t.Errorf("with an item due at once: next = %v, %v; want the zero time", at, ok)
	}
	db.RemoveOutbox(ctx, now)
	db.RemoveOutbox(ctx, late)
	if at, ok := next(ms(100)); ok {
		t.Errorf("only an expired item left: next = %v", at)
	}
}

func TestRescheduleContactOutbox(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)
	carol := addContact(t, db, "carol", 2)
	var ids []int64
	for i, it := range []OutboxItem{
		{ContactID: bob.ID, NextAttempt: ms(500), Attempts: 4},   // waits: made due
		{ContactID: bob.ID, NextAttempt: ms(50), Attempts: 1},    // already due: kept
		{ContactID: carol.ID, NextAttempt: ms(500), Attempts: 2}, // another contact's: kept
	} {
		it.MsgID = msgID(it.ContactID, i)
		ids = append(ids, mustEnqueue(t, db, it))
	}
	if n, err := db.RescheduleContactOutbox(ctx, bob.ID, ms(100)); err != nil || n != 1 {
		t.Fatalf("RescheduleContactOutbox = %d, %v; want 1", n, err)
	}
	due, err := db.DueOutbox(ctx, ms(100), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].ID != ids[0] || !due[0].NextAttempt.Equal(ms(100)) || due[0].Attempts != 4 ||
		due[1].ID != ids[1] || !due[1].NextAttempt.Equal(ms(50)) {
		t.Errorf("due after RescheduleContactOutbox: %+v", due)
	}
}
