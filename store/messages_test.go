package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// msgID returns a message ID made from a contact ID and a number.
func msgID(contact int64, n int) [16]byte {
	var id [16]byte
	binary.BigEndian.PutUint64(id[:8], uint64(contact))
	binary.BigEndian.PutUint64(id[8:], uint64(n)+1)
	return id
}

// inMsg returns incoming message n from contact c, sent at ms(sent).
func inMsg(c Contact, n, sent int) Message {
	return Message{ContactID: c.ID, MsgID: msgID(c.ID, n), Author: c.NodeID, Direction: Incoming,
		Body: fmt.Sprintf("in %d", n), Sent: ms(sent), Received: ms(sent + 1)}
}

// outMsg returns outgoing message n to contact c, sent at ms(sent).
func outMsg(c Contact, n, sent int) Message {
	return Message{ContactID: c.ID, MsgID: msgID(c.ID, n), Author: nodeID(0xee), Direction: Outgoing,
		Body: fmt.Sprintf("out %d", n), Sent: ms(sent), Received: ms(sent)}
}

func mustAddMessage(t testing.TB, db *DB, m Message) int64 {
	t.Helper()
	id, dup, err := db.AddMessage(context.Background(), m)
	if err != nil || dup {
		t.Fatalf("AddMessage(%x): id %d, dup %v, err %v", m.MsgID, id, dup, err)
	}
	return id
}

func TestAddMessage(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)

	in := inMsg(bob, 1, 100)
	id := mustAddMessage(t, db, in)
	got, err := db.MessageByMsgID(ctx, bob.NodeID, in.MsgID)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.ID, want.State, want.StateChanged = id, MessageReceived, in.Received
	if got != want {
		t.Errorf("MessageByMsgID:\n got %+v\nwant %+v", got, want)
	}

	out := outMsg(bob, 1, 200) // same msg_id bytes as in, other author: not a duplicate
	outID := mustAddMessage(t, db, out)
	if got, _ := db.MessageByMsgID(ctx, out.Author, out.MsgID); got.ID != outID || got.State != MessagePending || got.Body != "out 1" {
		t.Errorf("outgoing message stored as %+v", got)
	}

	// Redelivery: same author and message ID, whatever else it says.
	again := in
	again.Body, again.Received = "something else", ms(999)
	for range 3 {
		gotID, dup, err := db.AddMessage(ctx, again)
		if err != nil || !dup || gotID != id {
			t.Fatalf("AddMessage(duplicate) = %d, %v, %v; want %d, true, nil", gotID, dup, err, id)
		}
	}
	if n, _ := db.CountMessages(ctx, bob.ID); n != 2 {
		t.Errorf("CountMessages = %d after duplicates, want 2", n)
	}
	if got, _ := db.MessageByMsgID(ctx, bob.NodeID, in.MsgID); got.Body != "in 1" || !got.Received.Equal(ms(101)) {
		t.Errorf("a duplicate changed the stored message: %+v", got)
	}

	if _, err := db.MessageByMsgID(ctx, bob.NodeID, msgID(bob.ID, 42)); !errors.Is(err, ErrNotFound) {
		t.Errorf("MessageByMsgID(missing): err = %v, want ErrNotFound", err)
	}
}

func TestMessageValidation(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)
	for name, mod := range map[string]func(*Message){
		"no contact":             func(m *Message) { m.ContactID = 0 },
		"zero message ID":        func(m *Message) { m.MsgID = [16]byte{} },
		"zero author":            func(m *Message) { m.Author = [32]byte{} },
		"unknown direction":      func(m *Message) { m.Direction = "sideways" },
		"outgoing-only state":    func(m *Message) { m.State = MessageDelivered },
		"unknown state":          func(m *Message) { m.State = "lost" },
		"no sent time":           func(m *Message) { m.Sent = time.Time{} },
		"no received time":       func(m *Message) { m.Received = time.Time{} },
		"incoming state outward": func(m *Message) { m.Direction, m.State = Outgoing, MessageReceived },
	} {
		m := inMsg(bob, 1, 100)
		mod(&m)
		if _, _, err := db.AddMessage(ctx, m); err == nil {
			t.Errorf("%s: AddMessage succeeded", name)
		}
	}
	m := inMsg(bob, 1, 100)
	m.ContactID = bob.ID + 1
	if _, _, err := db.AddMessage(ctx, m); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddMessage for a missing contact: err = %v, want ErrNotFound", err)
	}
	if n := countRows(t, db, "messages"); n != 0 {
		t.Errorf("%d messages stored from invalid input", n)
	}
}

func TestSetMessageStateForwardOnly(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)
	out, out2, in := outMsg(bob, 1, 100), outMsg(bob, 2, 100), inMsg(bob, 3, 100)
	for _, m := range []Message{out, out2, in} {
		mustAddMessage(t, db, m)
	}
	steps := []struct {
		m       Message
		state   MessageState
		changed bool
		now     MessageState // the state afterwards
	}{
		{out, MessagePending, false, MessagePending},
		{out, MessageSent, true, MessageSent},
		{out, MessageSent, false, MessageSent},
		{out, MessagePending, false, MessageSent},
		{out, MessageRead, true, MessageRead}, // a read receipt can overtake the delivery receipt
		{out, MessageDelivered, false, MessageRead},
		{out, MessageFailed, false, MessageRead},
		{out, MessageSent, false, MessageRead},

		{out2, MessageFailed, true, MessageFailed},
		{out2, MessageSent, false, MessageFailed},
		{out2, MessageDelivered, true, MessageDelivered}, // the receipt came after all
		{out2, MessageFailed, false, MessageDelivered},

		{in, MessageReceived, false, MessageReceived},
		{in, MessageRead, true, MessageRead},
		{in, MessageReceived, false, MessageRead},
	}
	for i, s := range steps {
		changed, err := db.SetMessageState(ctx, s.m.Author, s.m.MsgID, s.state, ms(1000+i))
		if err != nil {
			t.Fatalf("step %d: SetMessageState(%s, %s): %v", i, s.m.Body, s.state, err)
		}
		got, _ := db.MessageByMsgID(ctx, s.m.Author, s.m.MsgID)
		if changed != s.changed || got.State != s.now {
			t.Errorf("step %d: SetMessageState(%s, %s) = %v, state %s; want %v, %s", i, s.m.Body, s.state, changed, got.State, s.changed, s.now)
		}
		if changed && !got.StateChanged.Equal(ms(1000+i)) {
			t.Errorf("step %d: StateChanged = %v, want %v", i, got.StateChanged, ms(1000+i))
		}
	}

	if _, err := db.SetMessageState(ctx, in.Author, in.MsgID, MessageDelivered, ms(2000)); err == nil {
		t.Error("SetMessageState(incoming, delivered) succeeded")
	}
	if _, err := db.SetMessageState(ctx, out.Author, out2.MsgID, MessageReceived, ms(2000)); err == nil {
		t.Error("SetMessageState(outgoing, received) succeeded")
	}
	if _, err := db.SetMessageState(ctx, out.Author, out.MsgID, "lost", ms(2000)); err == nil {
		t.Error("SetMessageState(unknown state) succeeded")
	}
	if _, err := db.SetMessageState(ctx, out.Author, msgID(9, 9), MessageSent, ms(2000)); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetMessageState(missing): err = %v, want ErrNotFound", err)
	}
}

func TestMarkRead(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)
	carol := addContact(t, db, "carol", 2)
	for i := 1; i <= 5; i++ {
		mustAddMessage(t, db, inMsg(bob, i, 100*i))
		mustAddMessage(t, db, inMsg(carol, i, 100*i))
	}
	mustAddMessage(t, db, outMsg(bob, 10, 150))

	refs, err := db.MarkRead(ctx, bob.ID, ms(300), ms(1000))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(refs, func(a, b MessageRef) int { return slices.Compare(a.MsgID[:], b.MsgID[:]) })
	var want []MessageRef
	for i := 1; i <= 3; i++ {
		want = append(want, MessageRef{Author: bob.NodeID, MsgID: msgID(bob.ID, i)})
	}
	if !slices.Equal(refs, want) {
		t.Errorf("MarkRead returned %x, want %x", refs, want)
	}
	for i := 1; i <= 5; i++ {
		m, _ := db.MessageByMsgID(ctx, bob.NodeID, msgID(bob.ID, i))
		wantState, wantAt := MessageReceived, m.Received
		if i <= 3 {
			wantState, wantAt = MessageRead, ms(1000)
		}
		if m.State != wantState || !m.StateChanged.Equal(wantAt) {
			t.Errorf("message %d: %s at %v, want %s at %v", i, m.State, m.StateChanged, wantState, wantAt)
		}
	}
	if m, _ := db.MessageByMsgID(ctx, nodeID(0xee), msgID(bob.ID, 10)); m.State != MessagePending {
		t.Errorf("MarkRead touched an outgoing message: %s", m.State)
	}

	// Already read: nothing to report again.
	if refs, err := db.MarkRead(ctx, bob.ID, ms(300), ms(1001)); err != nil || len(refs) != 0 {
		t.Errorf("second MarkRead = %x, %v; want nothing", refs, err)
	}
	sums, err := db.ContactSummaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unread := map[string]int{}
	for _, s := range sums {
		unread[s.Username] = s.Unread
	}
	if unread["bob"] != 2 || unread["carol"] != 5 {
		t.Errorf("unread counts %v, want bob 2 and carol 5", unread)
	}
}

// pageAll reads the whole conversation of contact id in pages of size n.
func pageAll(t *testing.T, db *DB, id int64, n int) []Message {
	t.Helper()
	var all []Message
	var cur Cursor
	for pages := 0; ; pages++ {
		page, err := db.Messages(context.Background(), id, cur, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > n {
			t.Fatalf("page of %d messages, limit %d", len(page), n)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		cur = page[len(page)-1].Cursor()
		if pages > 10000 {
			t.Fatal("pagination does not end")
		}
	}
}

func TestMessagesPagination(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)
	carol := addContact(t, db, "carol", 2)

	// 60 messages in 12 groups of 5 with equal sent times, inserted in a
	// random order so that IDs do not follow the sent times.
	rng := rand.New(rand.NewPCG(1, 2))
	var msgs []Message
	for i := range 60 {
		m := inMsg(bob, i, 1000+(i/5)*10)
		if i%2 == 1 {
			m = outMsg(bob, i, 1000+(i/5)*10)
		}
		msgs = append(msgs, m)
	}
	rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	for i := range msgs {
		msgs[i].ID = mustAddMessage(t, db, msgs[i])
		msgs[i].State, msgs[i].StateChanged = MessageReceived, msgs[i].Received
		if msgs[i].Direction == Outgoing {
			msgs[i].State = MessagePending
		}
		mustAddMessage(t, db, inMsg(carol, i, 1000+i)) // interleaved, never returned
	}
	want := slices.Clone(msgs)
	slices.SortFunc(want, func(a, b Message) int {
		return cmp.Or(b.Sent.Compare(a.Sent), cmp.Compare(b.ID, a.ID))
	})
	ids := func(ms []Message) []int64 {
		var out []int64
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}

	// Page sizes that split the equal-time groups at every offset.
	for _, n := range []int{1, 2, 3, 4, 5, 7, 59, 60, 100} {
		got := pageAll(t, db, bob.ID, n)
		if !slices.Equal(ids(got), ids(want)) {
			t.Errorf("pages of %d:\n got %v\nwant %v", n, ids(got), ids(want))
		}
	}

	// A cursor inside a group of equal times continues with the rest of
	// the group, in descending ID order.
	mid := want[22] // group of index 4 (22/5), position 2 of 5
	page, err := db.Messages(ctx, bob.ID, mid.Cursor(), 4)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(page), ids(want[23:27])) {
		t.Errorf("page after the middle of a group = %v, want %v", ids(page), ids(want[23:27]))
	}
	// A cursor from a time and ID that are not stored works too.
	page, err = db.Messages(ctx, bob.ID, Cursor{Sent: mid.Sent, ID: mid.ID + 100000}, 3)
	if err != nil {
		t.Fatal(err)
	}
	firstOfGroup := slices.IndexFunc(want, func(m Message) bool { return m.Sent.Equal(mid.Sent) })
	if !slices.Equal(ids(page), ids(want[firstOfGroup:firstOfGroup+3])) {
		t.Errorf("page after (group time, huge ID) = %v, want %v", ids(page), ids(want[firstOfGroup:firstOfGroup+3]))
	}
	// The full row comes back.
	if page, _ := db.Messages(ctx, bob.ID, Cursor{}, 1); len(page) != 1 || page[0] != want[0] {
		t.Errorf("newest message %+v, want %+v", page, want[0])
	}
	if page, err := db.Messages(ctx, bob.ID, want[len(want)-1].Cursor(), 10); err != nil || len(page) != 0 {
		t.Errorf("page after the oldest = %v, %v; want empty", page, err)
	}
	if _, err := db.Messages(ctx, bob.ID, Cursor{}, 0); err == nil {
		t.Error("Messages with limit 0 succeeded")
	}
	if n, err := db.CountMessages(ctx, bob.ID); err != nil || n != 60 {
		t.Errorf("CountMessages = %d, %v; want 60", n, err)
	}
	if n, err := db.CountMessages(ctx, 12345); err != nil || n != 0 {
		t.Errorf("CountMessages(no such contact) = %d, %v; want 0", n, err)
	}
}

func TestCascadeDelete(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)
	carol := addContact(t, db, "carol", 2)
	for _, c := range []Contact{bob, carol} {
		mustAddMessage(t, db, inMsg(c, 1, 100))
		if _, _, err := db.AddMessageWithOutbox(ctx, outMsg(c, 2, 200), OutboxItem{Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddCall(ctx, Call{ContactID: c.ID, CallID: msgID(c.ID, 3), Direction: Incoming, Started: ms(300)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SeenEnvelope(ctx, bob.NodeID, msgID(1, 1), ms(1000)); err != nil {
		t.Fatal(err)
	}

	mustExec(t, db.w, `DELETE FROM contacts WHERE id = ?`, bob.ID)
	for _, table := range []string{"messages", "outbox", "calls"} {
		var left, others int
		if err := db.r.QueryRow(`SELECT count(*) FILTER (WHERE contact_id = ?), count(*) FILTER (WHERE contact_id <> ?) FROM `+table,
			bob.ID, bob.ID).Scan(&left, &others); err != nil {
			t.Fatal(err)
		}
		if left != 0 || others == 0 {
			t.Errorf("%s: %d rows of the deleted contact left, %d of the other; want 0 and some", table, left, others)
		}
	}
	// Replay protection is about envelopes, not contacts.
	if n := countRows(t, db, "seen_envelopes"); n != 1 {
		t.Errorf("seen_envelopes has %d rows, want 1", n)
	}
}

// TestQueryPlans checks that the queries that must stay fast on large
// conversations use their indexes rather than scanning or sorting.
func TestQueryPlans(t *testing.T) {
	db := openTemp(t)
	plan := func(q string, args ...any) string {
		t.Helper()
		rows, err := db.r.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		return fmt.Sprint(lines)
	}
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"newest page", `SELECT ` + messageColumns + ` FROM messages m WHERE m.contact_id = 1
			ORDER BY m.sent_at DESC, m.id DESC LIMIT 50`,
			[]string{"USING INDEX messages_contact_sent (contact_id=?)"}},
		{"page after a cursor", `SELECT ` + messageColumns + ` FROM messages m WHERE m.contact_id = 1
			AND (m.sent_at, m.id) < (5, 6) ORDER BY m.sent_at DESC, m.id DESC LIMIT 50`,
			[]string{"USING INDEX messages_contact_sent (contact_id=? AND sent_at<?)"}},
		{"contact by node ID", `SELECT ` + contactColumns + ` FROM contacts c WHERE c.node_id = x'00' AND c.state <> 'removed'`,
			[]string{"USING INDEX contacts_node_id (node_id=?)"}},
		{"mark read", `UPDATE messages SET state = 'read' WHERE contact_id = 1 AND direction = 'in'
			AND state = 'received' AND sent_at <= 5`,
			[]string{"INDEX messages_unread (contact_id=? AND sent_at<?)"}},
	} {
		p := plan(tc.query)
		for _, w := range tc.want {
			if !strings.Contains(p, w) {
				t.Errorf("%s: plan %s lacks %q", tc.name, p, w)
			}
		}
		if strings.Contains(p, "TEMP B-TREE") || strings.Contains(p, "SCAN") {
			t.Errorf("%s: plan %s scans or sorts", tc.name, p)
		}
	}
}
