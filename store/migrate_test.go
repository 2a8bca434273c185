package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

// version1DB creates at path a database as Parley with only migration 0001
// left it, holding an identity, settings and hosts, and rows in the 0001
// contacts, messages and calls tables (which no code of that version wrote,
// but which must not break the upgrade).
func version1DB(t *testing.T, path string) {
	t.Helper()
	raw := rawOpen(t, path, "foreign_keys(1)", "journal_mode(WAL)")
	defer raw.Close()
	mustExec(t, raw, migrations[0].sql)
	mustExec(t, raw, `PRAGMA user_version = 1`)
	seed := make([]byte, 32)
	seed[0] = 7
	mustExec(t, raw, `INSERT INTO identity (id, private_key, username, created_at) VALUES (1, ?, 'me', ?)`, seed, toMillis(ms(1)))
	mustExec(t, raw, `INSERT INTO settings (key, value) VALUES ('supernode', 'off'), ('theme', 'dark')`)
	for i := byte(1); i <= 3; i++ {
		id := nodeID(i)
		mustExec(t, raw, `INSERT INTO host_cache (node_id, addr, last_success, successes, failures, added_at) VALUES (?, ?, ?, ?, 1, ?)`,
			id[:], "10.0.0."+string('0'+i)+":4000", toMillis(ms(int(i)*10)), int(i), toMillis(ms(int(i))))
	}
	key := pubKey(1)
	author := nodeID(0xaa)
	mustExec(t, raw, `INSERT INTO contacts (id, username, public_key, state, verified, created_at, updated_at) VALUES
		(5, ' Bob ', ?, 'accepted', 1, 10, 20),
		(6, 'nokey', NULL, 'pending', 0, 10, 20)`, []byte(key))
	mustExec(t, raw, `INSERT INTO messages (id, contact_id, sender, msg_id, outgoing, body, sent_at, state) VALUES
		(1, 5, ?, ?, 0, 'hello', 30, 'received'),
		(2, 5, ?, ?, 1, 'hi bob', 40, 'whatever'),
		(3, 6, ?, ?, 0, 'lost', 50, 'received')`,
		author[:], slice16(msgID(5, 1)), author[:], slice16(msgID(5, 2)), author[:], slice16(msgID(6, 1)))
	mustExec(t, raw, `INSERT INTO calls (contact_id, outgoing, started_at, duration_ms, outcome) VALUES (5, 1, 60, 5000, 'answered')`)
}

func TestMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "profile.db")
	version1DB(t, path)

	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(); err != nil || v != len(migrations) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(migrations))
	}

	// Nothing of 0001 is lost.
	id, err := db.Identity(ctx)
	if err != nil || id.Username != "me" || id.PrivateKeySeed[0] != 7 || !id.CreatedAt.Equal(ms(1)) {
		t.Errorf("Identity = %+v, %v", id, err)
	}
	for k, want := range map[string]string{"supernode": "off", "theme": "dark"} {
		if v, err := db.Setting(ctx, k); err != nil || v != want {
			t.Errorf("Setting(%q) = %q, %v; want %q", k, v, err, want)
		}
	}
	hosts, err := db.Hosts(ctx)
	if err != nil || len(hosts) != 3 {
		t.Fatalf("Hosts = %v, %v", hosts, err)
	}
	if h := hosts[0]; h.NodeID != nodeID(3) || h.Addr != "10.0.0.3:4000" || h.Successes != 3 || h.Failures != 1 || !h.LastSuccess.Equal(ms(30)) {
		t.Errorf("best host %+v", h)
	}

	// 0001 chat rows are carried over where they fit: Bob's contact, with
	// a computed node ID, his messages and his call; the contact without a
	// key, and its message, cannot be.
	bob, err := db.ContactByUsername(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	want := Contact{ID: 5, Username: "bob", PublicKey: pubKey(1), NodeID: sha256.Sum256(pubKey(1)),
		State: ContactAccepted, Verified: true, Created: fromMillis(10), Updated: fromMillis(20)}
	if !reflect.DeepEqual(bob, want) {
		t.Errorf("migrated contact:\n got %+v\nwant %+v", bob, want)
	}
	if _, err := db.Contact(ctx, 6); !errors.Is(err, ErrNotFound) {
		t.Errorf("contact without a key: err = %v, want ErrNotFound", err)
	}
	msgs, err := db.Messages(ctx, 5, Cursor{}, 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("Messages = %+v, %v", msgs, err)
	}
	if m := msgs[1]; m.Body != "hello" || m.Direction != Incoming || m.State != MessageReceived || m.MsgID != msgID(5, 1) || !m.Sent.Equal(fromMillis(30)) {
		t.Errorf("migrated incoming message %+v", m)
	}
	if m := msgs[0]; m.Body != "hi bob" || m.Direction != Outgoing || m.State != MessageSent {
		t.Errorf("migrated outgoing message %+v", m)
	}
	calls, err := db.Calls(ctx, 5, 10)
	if err != nil || len(calls) != 1 {
		t.Fatalf("Calls = %+v, %v", calls, err)
	}
	if c := calls[0]; c.Direction != Outgoing || c.Outcome != CallAnswered || !c.Started.Equal(fromMillis(60)) || !c.Ended.Equal(fromMillis(5060)) || c.CallID == ([16]byte{}) {
		t.Errorf("migrated call %+v", c)
	}
	if n := countRows(t, db, "messages"); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}

	var problems int
	if err := db.r.QueryRow(`SELECT count(*) FROM pragma_foreign_key_check`).Scan(&problems); err != nil || problems != 0 {
		t.Errorf("foreign_key_check: %d problems, %v", problems, err)
	}

	// The migrated database works like a new one.
	if _, _, err := db.AddMessageWithOutbox(ctx, outMsg(bob, 3, 100), OutboxItem{Payload: []byte("p")}); err != nil {
		t.Errorf("AddMessageWithOutbox after migration: %v", err)
	}
	db.Close()
	db2, err := Open(path)
	if err != nil {
		t.Fatalf("reopening the migrated database: %v", err)
	}
	db2.Close()
}

func slice16(b [16]byte) []byte { return b[:] }
