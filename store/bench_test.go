package store

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
)

// openBench opens a fresh database for a benchmark.
func openBench(b *testing.B) *DB {
	b.Helper()
	db, err := Open(filepath.Join(b.TempDir(), "profile.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// fillMessages adds n messages to contact c in one transaction, sent one
// millisecond apart starting at ms(start) except that every fourth shares
// the previous one's time; every third is outgoing and incoming messages
// before unreadFrom are read.
func fillMessages(b *testing.B, db *DB, c Contact, n, start, unreadFrom int) {
	b.Helper()
	tx, err := db.w.Begin()
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	stmt, err := tx.Prepare(`INSERT INTO messages (contact_id, msg_id, author, direction, body, sent_at, received_at, state, state_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	me := nodeID(0xee)
	sent := start
	for i := range n {
		if i%4 != 3 {
			sent++
		}
		m := inMsg(c, i, sent)
		if i%3 == 0 {
			m = outMsg(c, i, sent)
			m.State = MessageDelivered
			m.Author = me
		} else if i < unreadFrom {
			m.State = MessageRead
		} else {
			m.State = MessageReceived
		}
		m.Body = fmt.Sprintf("message %d, long enough to look like a line of chat", i)
		if _, err := stmt.Exec(m.ContactID, m.MsgID[:], m.Author[:], m.Direction, m.Body,
			toMillis(m.Sent), toMillis(m.Received), m.State, toMillis(m.Received)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkMessagesPage opens a 10,000-message conversation: the newest 50
// messages, and 50 from its middle.
func BenchmarkMessagesPage(b *testing.B) {
	db := openBench(b)
	ctx := context.Background()
	bob := addContact(b, db, "bob", 1)
	other := addContact(b, db, "carol", 2)
	fillMessages(b, db, bob, 10_000, 1_000, 9_990)
	fillMessages(b, db, other, 10_000, 1_000, 10_000)
	newest, err := db.Messages(ctx, bob.ID, Cursor{}, 5_000)
	if err != nil || len(newest) != 5_000 {
		b.Fatalf("Messages: %d, %v", len(newest), err)
	}
	middle := newest[len(newest)-1].Cursor()

	for _, bc := range []struct {
		name   string
		cursor Cursor
	}{{"newest", Cursor{}}, {"middle", middle}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				page, err := db.Messages(ctx, bob.ID, bc.cursor, 50)
				if err != nil || len(page) != 50 {
					b.Fatalf("Messages: %d, %v", len(page), err)
				}
			}
		})
	}
}

// BenchmarkContactSummaries builds the contact list for 500 contacts with
// 10,000 messages between them (20 each, some unread) and one more contact
// with a 10,000-message conversation.
func BenchmarkContactSummaries(b *testing.B) {
	db := openBench(b)
	ctx := context.Background()
	for i := range 500 {
		seed := make([]byte, ed25519.SeedSize)
		binary.BigEndian.PutUint32(seed, uint32(i)+1000)
		key := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		id, err := db.AddContact(ctx, Contact{Username: fmt.Sprintf("user%03d", i), PublicKey: key,
			State: ContactAccepted, Created: ms(i)})
		if err != nil {
			b.Fatal(err)
		}
		c, err := db.Contact(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		fillMessages(b, db, c, 20, 1_000+i*100, 15)
	}
	big := addContact(b, db, "bigtalker", 0xfe)
	fillMessages(b, db, big, 10_000, 1_000, 9_000)
	if n := countRows(b, db, "messages"); n != 20_000 {
		b.Fatalf("%d messages, want 20,000", n)
	}

	for b.Loop() {
		sums, err := db.ContactSummaries(ctx)
		if err != nil || len(sums) != 501 {
			b.Fatalf("ContactSummaries: %d, %v", len(sums), err)
		}
	}
}
