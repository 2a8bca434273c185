package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// openTemp opens a fresh database in a temporary directory.
func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "profile.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// dirState returns the name, size and sha256 of every file in dir.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		state[e.Name()] = fmt.Sprintf("%d bytes, sha256 %x", len(b), sha256.Sum256(b))
	}
	return state
}

// assertDirUnchanged fails the test if dir differs from before.
func assertDirUnchanged(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := dirState(t, dir)
	for name, was := range before {
		if now, ok := after[name]; !ok {
			t.Errorf("%s was removed (was %s)", name, was)
		} else if now != was {
			t.Errorf("%s changed: was %s, now %s", name, was, now)
		}
	}
	for name, now := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s was created (%s)", name, now)
		}
	}
}

// rawOpen opens path with the driver directly, bypassing this package.
func rawOpen(t *testing.T, path string, pragmas ...string) *sql.DB {
	t.Helper()
	var params []string
	for _, p := range pragmas {
		params = append(params, "_pragma="+p)
	}
	db, err := sql.Open("sqlite", fileURI(path, params...))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func nodeID(b byte) [32]byte {
	var id [32]byte
	for i := range id {
		id[i] = b
	}
	return id
}

var t0 = time.UnixMilli(1_700_000_000_000)

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

func TestMigrationsCreateSchema(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()

	v, err := db.SchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v != len(migrations) || v != 2 {
		t.Errorf("SchemaVersion = %d, want %d (= number of migrations, 2)", v, len(migrations))
	}

	rows, err := db.r.QueryContext(ctx,
		`SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			t.Fatal(err)
		}
		got = append(got, typ+" "+name)
	}
	want := []string{
		"index calls_contact_started",
		"index calls_started",
		"index contacts_node_id",
		"index contacts_username",
		"index messages_contact_sent",
		"index messages_unread",
		"index outbox_contact",
		"index outbox_expires",
		"index outbox_next_attempt",
		"index seen_envelopes_expires",
		"table calls",
		"table contacts",
		"table host_cache",
		"table identity",
		"table messages",
		"table outbox",
		"table seen_envelopes",
		"table settings",
	}
	if !slices.Equal(got, want) {
		t.Errorf("schema objects:\n got %q\nwant %q", got, want)
	}

	for _, tc := range []struct {
		pool   *sql.DB
		pragma string
		want   string
	}{
		{db.w, "journal_mode", "wal"},
		{db.w, "foreign_keys", "1"},
		{db.w, "synchronous", "1"}, // NORMAL
		{db.w, "busy_timeout", "5000"},
		{db.r, "foreign_keys", "1"},
		{db.r, "query_only", "1"},
		{db.r, "busy_timeout", "5000"},
		{db.r, "application_id", fmt.Sprint(parleyApplicationID)},
	} {
		var s string
		if err := tc.pool.QueryRow("PRAGMA " + tc.pragma).Scan(&s); err != nil {
			t.Fatal(err)
		}
		if s != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, s, tc.want)
		}
	}
}

func TestSchemaConstraints(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	blob := func(b byte) []byte { id := nodeID(b); return id[:] }
	key, node := blob(1), blob(2)
	mustExec(t, db.w, `INSERT INTO contacts (id, username, public_key, node_id, state, created_at, updated_at) VALUES (1, 'bob', ?, ?, 'accepted', 1, 1)`, key, node)
	mustExec(t, db.w, `INSERT INTO messages (contact_id, author, msg_id, direction, body, sent_at, received_at, state, state_at) VALUES (1, ?, x'02020202020202020202020202020202', 'in', 'hi', 5, 5, 'received', 5)`, node)
	mustExec(t, db.w, `INSERT INTO calls (contact_id, call_id, direction, started_at) VALUES (1, x'03030303030303030303030303030303', 'out', 5)`)

	if _, err := db.w.ExecContext(ctx, `INSERT INTO messages (contact_id, author, msg_id, direction, body, sent_at, received_at, state, state_at) VALUES (1, ?, x'02020202020202020202020202020202', 'in', 'dup', 6, 6, 'received', 6)`, node); err == nil {
		t.Error("duplicate (author, msg_id) accepted")
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO messages (contact_id, author, msg_id, direction, body, sent_at, received_at, state, state_at) VALUES (99, ?, x'04040404040404040404040404040404', 'in', 'x', 6, 6, 'received', 6)`, node); err == nil {
		t.Error("message for a nonexistent contact accepted: foreign keys not enforced")
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO contacts (username, public_key, node_id, state, created_at, updated_at) VALUES ('bob', ?, ?, 'incoming', 1, 1)`, blob(3), blob(4)); err == nil {
		t.Error("duplicate contact username accepted")
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO identity (id, private_key, username, created_at) VALUES (2, x'00', 'x', 1)`); err == nil {
		t.Error("identity row with id 2 accepted")
	}

	mustExec(t, db.w, `DELETE FROM contacts WHERE id = 1`)
	var n int
	if err := db.r.QueryRow(`SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM calls)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d messages/calls survived deleting their contact; want ON DELETE CASCADE", n)
	}

	// The reader pool must not be able to write.
	if _, err := db.r.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('a', 'b')`); err == nil {
		t.Error("write through the query-only pool succeeded")
	}
}

func TestReopenIsIdempotent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "profile.db")
	schema := func(db *DB) string {
		var s string
		if err := db.r.QueryRow(`SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_schema ORDER BY name)`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	if err := db.SetSetting(ctx, "theme", "dark"); err != nil {
		t.Fatal(err)
	}
	first := schema(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// The last connection to close checkpoints the WAL and removes it.
	for _, suffix := range []string{"-wal", "-shm"} {
		if exists(path + suffix) {
			t.Errorf("%s left behind after Close", suffix)
		}
	}

	for i := 0; i < 3; i++ {
		db, err := Open(path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		v, err := db.SchemaVersion()
		if err != nil || v != len(migrations) {
			t.Errorf("reopen %d: SchemaVersion = %d, %v", i, v, err)
		}
		if got := schema(db); got != first {
			t.Errorf("reopen %d: schema changed:\n%s\n%s", i, first, got)
		}
		if v, err := db.Setting(ctx, "theme"); err != nil || v != "dark" {
			t.Errorf("reopen %d: Setting(theme) = %q, %v", i, v, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenEmptyFile(t *testing.T) {
	// A zero-length file is a valid, empty SQLite database (e.g. created by
	// touch); it is initialised like a new one.
	path := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(); err != nil || v != len(migrations) {
		t.Errorf("SchemaVersion = %d, %v", v, err)
	}
}

func TestOpenUnusualPath(t *testing.T) {
	dir := t.TempDir()
	name := "my profile?#%20&x=1+.db"
	db, err := Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetSetting(context.Background(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != name {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files in dir = %q, want just %q", names, name)
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "nope", "profile.db"))
	if err == nil {
		t.Fatal("Open in a missing directory succeeded")
	}
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNewerSchema) {
		t.Errorf("error %v wrongly classified", err)
	}
}

func TestIdentity(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()

	if _, err := db.Identity(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Identity on a new profile: err = %v, want ErrNotFound", err)
	}

	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	created := time.UnixMilli(1_712_345_678_901)
	want := Identity{PrivateKeySeed: seed, Username: "alice", CreatedAt: created}
	if err := db.SaveIdentity(ctx, want); err != nil {
		t.Fatal(err)
	}
	seed[0] = 0xff // the stored copy must not alias the caller's slice

	got, err := db.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.PrivateKeySeed[0] != 1 || len(got.PrivateKeySeed) != 32 || got.PrivateKeySeed[31] != 32 {
		t.Errorf("PrivateKeySeed = %x", got.PrivateKeySeed)
	}
	if got.Username != "alice" || !got.CreatedAt.Equal(created) {
		t.Errorf("Identity = %+v, want alice created %v", got, created)
	}

	err = db.SaveIdentity(ctx, Identity{PrivateKeySeed: make([]byte, 32), Username: "mallory", CreatedAt: created})
	if !errors.Is(err, ErrIdentityExists) {
		t.Errorf("second SaveIdentity: err = %v, want ErrIdentityExists", err)
	}
	if got, _ := db.Identity(ctx); got.Username != "alice" {
		t.Errorf("identity replaced by %q", got.Username)
	}

	if err := db.SaveIdentity(ctx, Identity{PrivateKeySeed: make([]byte, 31), Username: "x"}); err == nil {
		t.Error("31-byte seed accepted")
	}
}

func TestSettings(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()

	if _, err := db.Setting(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Setting(missing): err = %v, want ErrNotFound", err)
	}
	for _, kv := range [][2]string{{"a", "1"}, {"b", ""}, {"a", "2"}, {"unicode ✓", "värde"}} {
		if err := db.SetSetting(ctx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	for k, want := range map[string]string{"a": "2", "b": "", "unicode ✓": "värde"} {
		if got, err := db.Setting(ctx, k); err != nil || got != want {
			t.Errorf("Setting(%q) = %q, %v; want %q", k, got, err, want)
		}
	}
}

// hostOrder returns the first byte of each host's node ID, in order.
func hostOrder(t *testing.T, db *DB) []byte {
	t.Helper()
	hosts, err := db.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var order []byte
	for _, h := range hosts {
		order = append(order, h.NodeID[0])
	}
	return order
}

func TestHostsRanking(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	hosts := []Host{
		// Last attempt failed, although it has the most recent success.
		{NodeID: nodeID(1), Addr: "h1", LastSuccess: ms(900), LastFailure: ms(901), Successes: 50},
		// Good: last success after last failure.
		{NodeID: nodeID(2), Addr: "h2", LastSuccess: ms(500), LastFailure: ms(400), Successes: 1, Failures: 3},
		{NodeID: nodeID(3), Addr: "h3", LastSuccess: ms(600), Successes: 1},
		// Same last success as 3, more successes.
		{NodeID: nodeID(4), Addr: "h4", LastSuccess: ms(600), Successes: 7},
		// Same as 4 but more failures.
		{NodeID: nodeID(5), Addr: "h5", LastSuccess: ms(600), LastFailure: ms(10), Successes: 7, Failures: 2},
		// Never contacted.
		{NodeID: nodeID(6), Addr: "h6"},
		// Only ever failed.
		{NodeID: nodeID(7), Addr: "h7", LastFailure: ms(800), Failures: 1},
		// Failed after an older success.
		{NodeID: nodeID(8), Addr: "h8", LastSuccess: ms(100), LastFailure: ms(200), Successes: 1, Failures: 1},
	}
	if err := db.AddHosts(ctx, hosts, ms(1000)); err != nil {
		t.Fatal(err)
	}
	// Never-contacted host added later ranks above the older one.
	if err := db.AddHosts(ctx, []Host{{NodeID: nodeID(9), Addr: "h9"}}, ms(2000)); err != nil {
		t.Fatal(err)
	}

	want := []byte{4, 5, 3, 2, 1, 8, 9, 6, 7}
	if got := hostOrder(t, db); !slices.Equal(got, want) {
		t.Errorf("Hosts order = %v, want %v", got, want)
	}

	all, err := db.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range all {
		if h.NodeID[0] == 5 {
			want := hosts[4]
			if h.Addr != want.Addr || !h.LastSuccess.Equal(want.LastSuccess) || !h.LastFailure.Equal(want.LastFailure) ||
				h.Successes != want.Successes || h.Failures != want.Failures || h.NodeID != want.NodeID {
				t.Errorf("host 5 = %+v, want %+v", h, want)
			}
		}
		if h.NodeID[0] == 6 && (!h.LastSuccess.IsZero() || !h.LastFailure.IsZero()) {
			t.Errorf("never-contacted host read back with times %v / %v, want zero times", h.LastSuccess, h.LastFailure)
		}
	}
}

func TestAddHostsUpsertKeepsStats(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	id := nodeID(1)
	if err := db.AddHosts(ctx, []Host{{NodeID: id, Addr: "old:1"}}, ms(0)); err != nil {
		t.Fatal(err)
	}
	if err := db.HostSucceeded(ctx, id, "old:1", ms(10)); err != nil {
		t.Fatal(err)
	}
	if err := db.HostSucceeded(ctx, id, "old:1", ms(20)); err != nil {
		t.Fatal(err)
	}
	if err := db.HostFailed(ctx, id, ms(15)); err != nil {
		t.Fatal(err)
	}
	// Re-adding with a new address (and bogus statistics) only changes the address.
	if err := db.AddHosts(ctx, []Host{{NodeID: id, Addr: "new:2", Successes: 99, LastFailure: ms(999)}}, ms(30)); err != nil {
		t.Fatal(err)
	}
	hosts, err := db.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 {
		t.Fatalf("%d hosts, want 1", len(hosts))
	}
	h := hosts[0]
	if h.Addr != "new:2" || h.Successes != 2 || h.Failures != 1 || !h.LastSuccess.Equal(ms(20)) || !h.LastFailure.Equal(ms(15)) {
		t.Errorf("host after upsert = %+v", h)
	}
	var added int64
	if err := db.r.QueryRow(`SELECT added_at FROM host_cache`).Scan(&added); err != nil {
		t.Fatal(err)
	}
	if added != ms(0).UnixMilli() {
		t.Errorf("added_at = %d, want the original %d", added, ms(0).UnixMilli())
	}
}

func TestHostSucceededFailedRemove(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()

	// HostFailed on an unknown host is a no-op.
	if err := db.HostFailed(ctx, nodeID(1), ms(1)); err != nil {
		t.Fatal(err)
	}
	if got := hostOrder(t, db); len(got) != 0 {
		t.Fatalf("HostFailed created hosts %v", got)
	}

	// HostSucceeded inserts unknown hosts.
	if err := db.HostSucceeded(ctx, nodeID(1), "a:1", ms(5)); err != nil {
		t.Fatal(err)
	}
	if err := db.HostSucceeded(ctx, nodeID(2), "b:1", ms(10)); err != nil {
		t.Fatal(err)
	}
	if got := hostOrder(t, db); !slices.Equal(got, []byte{2, 1}) {
		t.Fatalf("order = %v, want [2 1]", got)
	}

	// A failure after its last success demotes host 2 below host 1.
	if err := db.HostFailed(ctx, nodeID(2), ms(11)); err != nil {
		t.Fatal(err)
	}
	if got := hostOrder(t, db); !slices.Equal(got, []byte{1, 2}) {
		t.Errorf("after HostFailed(2): order = %v, want [1 2]", got)
	}
	// Succeeding again (at a new address) promotes it back.
	if err := db.HostSucceeded(ctx, nodeID(2), "b:2", ms(12)); err != nil {
		t.Fatal(err)
	}
	hosts, _ := db.Hosts(ctx)
	if len(hosts) != 2 || hosts[0].NodeID != nodeID(2) || hosts[0].Addr != "b:2" || hosts[0].Successes != 2 || hosts[0].Failures != 1 {
		t.Errorf("after HostSucceeded(2) again: %+v", hosts)
	}

	if err := db.RemoveHost(ctx, nodeID(2)); err != nil {
		t.Fatal(err)
	}
	if err := db.RemoveHost(ctx, nodeID(42)); err != nil {
		t.Errorf("RemoveHost of an unknown host: %v", err)
	}
	if got := hostOrder(t, db); !slices.Equal(got, []byte{1}) {
		t.Errorf("after RemoveHost(2): order = %v, want [1]", got)
	}
}

func TestAddHostsPrunesToBest(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	id := func(i int) [32]byte {
		var id [32]byte
		id[0], id[1] = byte(i>>8), byte(i)
		return id
	}
	// 150 good hosts (successes at distinct times) and 150 failing ones.
	var hosts []Host
	for i := 0; i < 150; i++ {
		hosts = append(hosts, Host{NodeID: id(i), Addr: fmt.Sprint("good", i), LastSuccess: ms(1000 + i), Successes: 1})
		hosts = append(hosts, Host{NodeID: id(1000 + i), Addr: fmt.Sprint("bad", i), LastFailure: ms(1000 + i), Failures: 1 + i})
	}
	if err := db.AddHosts(ctx, hosts, ms(5000)); err != nil {
		t.Fatal(err)
	}
	got, err := db.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxHostCache {
		t.Fatalf("%d hosts kept, want %d", len(got), MaxHostCache)
	}
	for i, h := range got[:150] {
		if want := id(149 - i); h.NodeID != want {
			t.Fatalf("host %d = %x, want good host %x", i, h.NodeID[:2], want[:2])
		}
	}
	// Of the failing hosts, the 50 with the fewest failures survive.
	for i, h := range got[150:] {
		if want := id(1000 + i); h.NodeID != want {
			t.Fatalf("host %d = %x (failures %d), want %x", 150+i, h.NodeID[:2], h.Failures, want[:2])
		}
	}

	// New never-contacted hosts displace the failing ones, not the good
	// ones, and the most recently added win among them.
	var fresh []Host
	for i := 0; i < 60; i++ {
		fresh = append(fresh, Host{NodeID: id(2000 + i), Addr: "fresh"})
	}
	if err := db.AddHosts(ctx, fresh[:30], ms(6000)); err != nil {
		t.Fatal(err)
	}
	if err := db.AddHosts(ctx, fresh[30:], ms(7000)); err != nil {
		t.Fatal(err)
	}
	got, err = db.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxHostCache {
		t.Fatalf("%d hosts kept, want %d", len(got), MaxHostCache)
	}
	counts := map[string]int{}
	for _, h := range got {
		counts[strings.TrimRight(h.Addr, "0123456789")]++
	}
	if counts["good"] != 150 || counts["fresh"] != 50 || counts["bad"] != 0 {
		t.Errorf("kept %v, want 150 good and 50 fresh", counts)
	}
	// All 30 of the later batch survive; 20 of the earlier batch do.
	later := 0
	for _, h := range got[150:180] {
		for _, f := range fresh[30:] {
			if h.NodeID == f.NodeID {
				later++
			}
		}
	}
	if later != 30 {
		t.Errorf("%d of the 30 most recently added hosts rank right after the good ones, want 30", later)
	}

	// HostSucceeded of a new host also keeps the cache bounded.
	if err := db.HostSucceeded(ctx, id(3000), "new", ms(8000)); err != nil {
		t.Fatal(err)
	}
	got, _ = db.Hosts(ctx)
	if len(got) != MaxHostCache || got[0].NodeID != id(3000) {
		t.Errorf("after HostSucceeded: %d hosts, first %x", len(got), got[0].NodeID[:2])
	}
}

// newerSchemaDB creates a database at path the way a future Parley with
// schema version 7 might leave it.
func newerSchemaDB(t *testing.T, path string) {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw := rawOpen(t, path)
	mustExec(t, raw, `CREATE TABLE future_things (id INTEGER PRIMARY KEY, x ANY) STRICT`)
	mustExec(t, raw, `PRAGMA user_version = 7`)
	raw.Close()
}

func TestNewerSchemaLeavesFileUntouched(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "profile.db")
	newerSchemaDB(t, path)
	before := dirState(t, path[:len(path)-len("profile.db")])
	if len(before) != 1 {
		t.Fatalf("setup left %v", before)
	}

	for i := 0; i < 2; i++ {
		db, err := Open(path)
		if err == nil {
			db.Close()
			t.Fatal("Open of a newer-schema database succeeded")
		}
		if !errors.Is(err, ErrNewerSchema) {
			t.Fatalf("err = %v, want ErrNewerSchema", err)
		}
		if errors.Is(err, ErrCorrupt) {
			t.Errorf("err %v also matches ErrCorrupt", err)
		}
		if msg := err.Error(); !strings.Contains(msg, "version 7") || !strings.Contains(msg, fmt.Sprintf("knows %d", len(migrations))) || !strings.Contains(msg, "upgrade Parley") {
			t.Errorf("message %q", msg)
		}
		assertDirUnchanged(t, dir, before)
	}
}

func TestNewerSchemaInWALLeavesFilesUntouched(t *testing.T) {
	// A newer Parley that crashed (or is still running) leaves its latest
	// changes, including the schema version, in the -wal file. The version
	// must be read from there, and neither the main file nor the WAL may be
	// modified.
	src := filepath.Join(t.TempDir(), "src.db")
	if db, err := Open(src); err != nil {
		t.Fatal(err)
	} else {
		db.Close()
	}
	raw := rawOpen(t, src, "wal_autocheckpoint(0)")
	mustExec(t, raw, `CREATE TABLE future_things (id INTEGER PRIMARY KEY)`)
	mustExec(t, raw, `PRAGMA user_version = 7`)
	dir := t.TempDir()
	path := filepath.Join(dir, "profile.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(src + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if suffix == "-wal" && len(b) == 0 {
			t.Fatal("WAL is empty; test setup is wrong")
		}
		if err := os.WriteFile(path+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	before := dirState(t, dir)

	_, err := Open(path)
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "version 7") {
		t.Fatalf("err = %v, want ErrNewerSchema for version 7", err)
	}
	// SQLite needs a -shm index to read a WAL; creating it is harmless, but
	// the database and the WAL must be exactly as they were.
	after := dirState(t, dir)
	delete(after, "profile.db-shm")
	for name, was := range before {
		if after[name] != was {
			t.Errorf("%s changed: was %s, now %s", name, was, after[name])
		}
	}
	if len(after) != len(before) {
		t.Errorf("files now %v, before %v", after, before)
	}
}

func TestRandomBytesAreCorrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1, 10, 100, 512, 4096, 100_000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "profile.db")
			b := make([]byte, size)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			before := dirState(t, dir)
			db, err := Open(path)
			if err == nil {
				db.Close()
				t.Fatal("Open of random bytes succeeded")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "not a valid Parley database") {
				t.Errorf("message %q does not name the path and the problem", msg)
			}
			assertDirUnchanged(t, dir, before)
		})
	}
}

func TestNotADBFromSQLite(t *testing.T) {
	// A file with the SQLite magic string but garbage after it gets past
	// the header check; SQLite itself reports SQLITE_NOTADB, which Open
	// maps to ErrCorrupt while keeping the driver error reachable.
	rng := rand.New(rand.NewPCG(5, 6))
	dir := t.TempDir()
	path := filepath.Join(dir, "profile.db")
	b := make([]byte, 8192)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	copy(b, sqliteMagic)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	before := dirState(t, dir)
	_, err := Open(path)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code() != sqlite3.SQLITE_NOTADB {
		t.Errorf("err = %v, want it to wrap an SQLITE_NOTADB *sqlite.Error", err)
	}
	assertDirUnchanged(t, dir, before)
}

// filledDB creates a closed Parley database at path with enough rows to span
// many pages and returns its page size.
func filledDB(t *testing.T, path string) int {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var hosts []Host
	for i := 0; i < MaxHostCache; i++ {
		hosts = append(hosts, Host{NodeID: nodeID(byte(i)), Addr: strings.Repeat("h", 100)})
		hosts[i].NodeID[1] = 1
	}
	if err := db.AddHosts(ctx, hosts, ms(0)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		if err := db.SetSetting(ctx, fmt.Sprintf("key-%04d", i), strings.Repeat("v", 200)); err != nil {
			t.Fatal(err)
		}
	}
	var pageSize int
	if err := db.r.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return pageSize
}

func TestGarbledPagesAreCorrupt(t *testing.T) {
	src := filepath.Join(t.TempDir(), "good.db")
	pageSize := filledDB(t, src)
	good, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	pages := len(good) / pageSize
	if pages < 10 {
		t.Fatalf("only %d pages; want several", pages)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	byQuickCheck := 0
	defer func() { t.Logf("%d pages, %d garbled ones caught by quick_check", pages, byQuickCheck) }()

	// Garble each page from 2 on, one at a time: every one must be
	// reported as corrupt, not panic and not be opened.
	for page := 2; page <= pages; page++ {
		dir := t.TempDir()
		path := filepath.Join(dir, "profile.db")
		b := slices.Clone(good)
		off := (page - 1) * pageSize
		for i := off; i < off+pageSize; i++ {
			b[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		before := dirState(t, dir)
		db, err := Open(path)
		if err == nil {
			db.Close()
			t.Errorf("page %d garbled: Open succeeded", page)
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("page %d garbled: err = %v, want ErrCorrupt", page, err)
		}
		if strings.Contains(err.Error(), "quick_check") {
			byQuickCheck++
		}
		assertDirUnchanged(t, dir, before)
	}
}

func TestGarbledHeaderAndTruncationAreCorrupt(t *testing.T) {
	src := filepath.Join(t.TempDir(), "good.db")
	pageSize := filledDB(t, src)
	good, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func([]byte) []byte{
		// Valid magic string, invalid page size: SQLITE_NOTADB.
		"bad page size": func(b []byte) []byte { b[16], b[17] = 0x12, 0x34; return b },
		"truncated":     func(b []byte) []byte { return b[:len(b)/2] },
		"truncated mid-page": func(b []byte) []byte {
			return b[:3*pageSize+pageSize/2]
		},
		"zeroed middle": func(b []byte) []byte {
			clear(b[len(b)/3 : 2*len(b)/3])
			return b
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "profile.db")
			if err := os.WriteFile(path, mutate(slices.Clone(good)), 0o600); err != nil {
				t.Fatal(err)
			}
			before := dirState(t, dir)
			db, err := Open(path)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			t.Logf("%v", err)
			assertDirUnchanged(t, dir, before)
		})
	}
}

func TestOtherApplicationDatabaseIsRejected(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "other.db")
	raw := rawOpen(t, path)
	mustExec(t, raw, `CREATE TABLE photos (id INTEGER PRIMARY KEY, data BLOB)`)
	raw.Close()
	before := dirState(t, dir)

	_, err := Open(path)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	assertDirUnchanged(t, dir, before)
}

func TestConcurrentWriters(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	const goroutines, writes = 8, 50

	var wg sync.WaitGroup
	errs := make(chan error, goroutines*writes*2)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < writes; i++ {
				key := fmt.Sprintf("g%d-%d", g, i)
				if err := db.SetSetting(ctx, key, key); err != nil {
					errs <- err
				}
				if err := db.SetSetting(ctx, "shared", key); err != nil {
					errs <- err
				}
				if i%10 == 0 {
					if err := db.HostSucceeded(ctx, nodeID(byte(g)), key, ms(i)); err != nil {
						errs <- err
					}
				}
			}
		}()
		// Concurrent readers.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < writes; i++ {
				if _, err := db.Setting(ctx, "shared"); err != nil && !errors.Is(err, ErrNotFound) {
					errs <- err
				}
				if _, err := db.Hosts(ctx); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	if err := db.r.QueryRow(`SELECT count(*) FROM settings WHERE key LIKE 'g%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != goroutines*writes {
		t.Errorf("%d settings written, want %d", n, goroutines*writes)
	}
	for g := 0; g < goroutines; g++ {
		if v, err := db.Setting(ctx, fmt.Sprintf("g%d-%d", g, writes-1)); err != nil || v != fmt.Sprintf("g%d-%d", g, writes-1) {
			t.Errorf("g%d last setting = %q, %v", g, v, err)
		}
	}
}

func TestZeroTimes(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	if err := db.SaveIdentity(ctx, Identity{PrivateKeySeed: make([]byte, 32), Username: "z"}); err != nil {
		t.Fatal(err)
	}
	id, err := db.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !id.CreatedAt.IsZero() {
		t.Errorf("zero CreatedAt read back as %v", id.CreatedAt)
	}
	var stored int64
	if err := db.r.QueryRow(`SELECT created_at FROM identity`).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("zero time stored as %d, %v; want 0", stored, err)
	}
}

func TestTwoHandlesOnOneFile(t *testing.T) {
	// Two DBs on one file behave like two processes: their writer
	// connections contend for SQLite's write lock, which busy_timeout and
	// BEGIN IMMEDIATE must absorb without surfacing SQLITE_BUSY.
	path := filepath.Join(t.TempDir(), "profile.db")
	var dbs [2]*DB
	for i := range dbs {
		db, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[i] = db
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		db := dbs[g%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := db.SetSetting(ctx, fmt.Sprint(g, "-", i), "x"); err != nil {
					t.Error(err)
					return
				}
				if err := db.AddHosts(ctx, []Host{{NodeID: nodeID(byte(i)), Addr: "x"}}, ms(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var n int
	if err := dbs[1].r.QueryRow(`SELECT count(*) FROM settings`).Scan(&n); err != nil || n != 400 {
		t.Errorf("%d settings, %v; want 400", n, err)
	}
}
