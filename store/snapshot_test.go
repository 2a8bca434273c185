package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestSnapshotWhileWriting(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	if err := db.SaveIdentity(ctx, Identity{PrivateKeySeed: make([]byte, 32), Username: "alice", CreatedAt: ms(1)}); err != nil {
		t.Fatal(err)
	}
	c := addContact(t, db, "bob", 2)

	// A writer adds settings while snapshots are taken, each time with a
	// count of them in the same transaction: each snapshot must agree with
	// its count (one transaction is wholly in or out).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := db.writeTx(ctx, "test write", func(tx *sql.Tx) error {
				if _, err := tx.Exec("INSERT INTO settings (key, value) VALUES (?, 'v')", fmt.Sprintf("k%06d", i)); err != nil {
					return err
				}
				_, err := tx.Exec("INSERT INTO settings (key, value) VALUES ('count', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", fmt.Sprint(i+1))
				return err
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	dir := t.TempDir()
	for i := range 3 {
		path := filepath.Join(dir, fmt.Sprintf("snap%d.db", i))
		if err := db.Snapshot(ctx, path); err != nil {
			t.Fatal(err)
		}
		if err := db.Snapshot(ctx, path); err == nil {
			t.Fatal("a second snapshot overwrote the first")
		}
		if _, err := os.Stat(path + "-wal"); err == nil {
			t.Error("the snapshot has a -wal file")
		}
		if err := CheckForeign(ctx, path); err != nil {
			t.Fatalf("CheckForeign of a snapshot: %v", err)
		}
		snap, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := snap.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema of a snapshot: %v", err)
		}
		id, err := snap.Identity(ctx)
		if err != nil || id.Username != "alice" {
			t.Fatalf("snapshot identity %+v, %v", id, err)
		}
		if got, err := snap.ContactByUsername(ctx, "bob"); err != nil || got.ID != c.ID {
			t.Fatalf("snapshot contact %+v, %v", got, err)
		}
		var n, count int
		if err := snap.r.QueryRow("SELECT count(*), (SELECT coalesce(max(CAST(value AS INTEGER)), 0) FROM settings WHERE key = 'count') FROM settings WHERE key LIKE 'k%'").Scan(&n, &count); err != nil {
			t.Fatal(err)
		}
		t.Logf("snapshot %d holds %d writes", i, n)
		if n != count {
			t.Fatalf("snapshot holds %d writes but a count of %d: torn", n, count)
		}
		snap.Close()
	}
}

func TestCheckForeignAndSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	make := func(name string, extra ...string) string {
		path := filepath.Join(dir, name)
		db, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		raw := rawOpen(t, path)
		for _, q := range extra {
			mustExec(t, raw, q)
		}
		raw.Close()
		return path
	}

	good := make("good.db")
	trigger := make("trigger.db", "CREATE TRIGGER evil AFTER INSERT ON settings BEGIN DELETE FROM contacts; END")
	view := make("view.db", "CREATE VIEW v AS SELECT * FROM identity")
	newer := make("newer.db", fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1))
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte("SQLite format 3\x00 but nothing after it"), 0o600)
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	before := dirState(t, dir)

	if err := CheckForeign(ctx, good); err != nil {
		t.Fatalf("CheckForeign of a fresh database: %v", err)
	}
	for _, c := range []struct {
		path string
		want error
	}{{trigger, ErrCorrupt}, {view, ErrCorrupt}, {newer, ErrNewerSchema}, {garbage, ErrCorrupt}, {empty, ErrCorrupt}} {
		if err := CheckForeign(ctx, c.path); !errors.Is(err, c.want) {
			t.Errorf("CheckForeign(%s): %v, want %v", filepath.Base(c.path), err, c.want)
		}
	}
	assertDirUnchanged(t, dir, before)

	for name, q := range map[string]string{
		"table.db": "CREATE TABLE extra (x)",
		"index.db": "CREATE INDEX extra ON settings (value)",
		"drop.db":  "DROP INDEX messages_unread",
		"appid.db": "PRAGMA application_id = 0",
	} {
		path := make(name, q)
		db, err := Open(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := db.CheckSchema(ctx); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: CheckSchema: %v, want ErrCorrupt", name, err)
		}
		db.Close()
	}
	db, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CheckSchema(ctx); err != nil {
		t.Errorf("CheckSchema of a fresh database: %v", err)
	}
}
