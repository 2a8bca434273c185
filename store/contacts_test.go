package store

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// pubKey returns a deterministic ed25519 public key made from seed byte b.
func pubKey(b byte) ed25519.PublicKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = b
	}
	return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
}

// addContact adds an accepted contact named name with key pubKey(b) and
// returns it as stored.
func addContact(t testing.TB, db *DB, name string, b byte) Contact {
	t.Helper()
	return addContactState(t, db, name, b, ContactAccepted)
}

func addContactState(t testing.TB, db *DB, name string, b byte, state ContactState) Contact {
	t.Helper()
	ctx := context.Background()
	id, err := db.AddContact(ctx, Contact{Username: name, PublicKey: pubKey(b), State: state, Created: ms(int(b))})
	if err != nil {
		t.Fatalf("AddContact(%q): %v", name, err)
	}
	c, err := db.Contact(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func countRows(t testing.TB, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.r.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAddContactAndLookups(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	key := pubKey(1)
	id, err := db.AddContact(ctx, Contact{
		Username:       "  Bob.Smith ",
		PublicKey:      key,
		PendingKey:     pubKey(2),
		State:          ContactIncoming,
		RequestMessage: "hi, it's Bob",
		Verified:       true,
		Created:        ms(10),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Contact{
		ID:             id,
		Username:       "bob.smith",
		PublicKey:      key,
		NodeID:         sha256.Sum256(key),
		PendingKey:     pubKey(2),
		State:          ContactIncoming,
		RequestMessage: "hi, it's Bob",
		Verified:       true,
		Created:        ms(10),
		Updated:        ms(10),
	}
	for _, lookup := range []struct {
		name string
		get  func() (Contact, error)
	}{
		{"Contact", func() (Contact, error) { return db.Contact(ctx, id) }},
		{"ContactByNodeID", func() (Contact, error) { return db.ContactByNodeID(ctx, sha256.Sum256(key)) }},
		{"ContactByUsername", func() (Contact, error) { return db.ContactByUsername(ctx, "BOB.smith") }},
	} {
		got, err := lookup.get()
		if err != nil {
			t.Fatalf("%s: %v", lookup.name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", lookup.name, got, want)
		}
	}

	for name, err := range map[string]error{
		"Contact":           func() error { _, err := db.Contact(ctx, id+1); return err }(),
		"ContactByNodeID":   func() error { _, err := db.ContactByNodeID(ctx, sha256.Sum256(pubKey(2))); return err }(),
		"ContactByUsername": func() error { _, err := db.ContactByUsername(ctx, "alice"); return err }(),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of a missing contact: err = %v, want ErrNotFound", name, err)
		}
	}

	// A NodeID given by the caller must be the key's.
	if _, err := db.AddContact(ctx, Contact{Username: "carol", PublicKey: pubKey(3), NodeID: sha256.Sum256(pubKey(3)), State: ContactOutgoing}); err != nil {
		t.Errorf("AddContact with the right NodeID: %v", err)
	}
}

func TestAddContactDuplicates(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)

	for _, c := range []Contact{
		{Username: "BOB", PublicKey: pubKey(2), State: ContactIncoming},    // same username
		{Username: "robert", PublicKey: pubKey(1), State: ContactIncoming}, // same key, so node ID
	} {
		_, err := db.AddContact(ctx, c)
		if !errors.Is(err, ErrExists) {
			t.Errorf("AddContact(%q): err = %v, want ErrExists", c.Username, err)
		}
	}
	if n := countRows(t, db, "contacts"); n != 1 {
		t.Fatalf("%d contacts after refused duplicates, want 1", n)
	}

	// A removed contact no longer counts: its name and key are free again.
	if err := db.SetContactState(ctx, bob.ID, ContactRemoved, ms(100)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ContactByUsername(ctx, "bob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ContactByUsername of a removed contact: err = %v, want ErrNotFound", err)
	}
	if _, err := db.ContactByNodeID(ctx, bob.NodeID); !errors.Is(err, ErrNotFound) {
		t.Errorf("ContactByNodeID of a removed contact: err = %v, want ErrNotFound", err)
	}
	if cs, err := db.Contacts(ctx); err != nil || len(cs) != 0 {
		t.Errorf("Contacts = %v, %v; want none (only a removed one)", cs, err)
	}
	if c, err := db.Contact(ctx, bob.ID); err != nil || c.State != ContactRemoved {
		t.Errorf("Contact(removed) = %+v, %v; want it in state removed", c, err)
	}
	bob2 := addContactState(t, db, "bob", 1, ContactIncoming)
	if got, err := db.ContactByNodeID(ctx, bob.NodeID); err != nil || got.ID != bob2.ID {
		t.Errorf("ContactByNodeID = %+v, %v; want the new contact %d", got, err, bob2.ID)
	}
	// Bringing the old one back would make two.
	if err := db.SetContactState(ctx, bob.ID, ContactAccepted, ms(101)); !errors.Is(err, ErrExists) {
		t.Errorf("reviving a removed contact whose name is taken: err = %v, want ErrExists", err)
	}
	if c, _ := db.Contact(ctx, bob.ID); c.State != ContactRemoved {
		t.Errorf("refused revival left state %q", c.State)
	}
}

func TestContactValidation(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	good := Contact{Username: "bob", PublicKey: pubKey(1), State: ContactOutgoing}
	for name, mod := range map[string]func(*Contact){
		"empty username":     func(c *Contact) { c.Username = "  " },
		"short key":          func(c *Contact) { c.PublicKey = c.PublicKey[:31] },
		"no key":             func(c *Contact) { c.PublicKey = nil },
		"wrong node ID":      func(c *Contact) { c.NodeID = nodeID(9) },
		"short pending key":  func(c *Contact) { c.PendingKey = make([]byte, 33) },
		"pending key pinned": func(c *Contact) { c.PendingKey = c.PublicKey },
		"unknown state":      func(c *Contact) { c.State = "friend" },
		"empty state":        func(c *Contact) { c.State = "" },
	} {
		c := good
		mod(&c)
		if _, err := db.AddContact(ctx, c); err == nil {
			t.Errorf("%s: AddContact succeeded", name)
		}
	}
	if n := countRows(t, db, "contacts"); n != 0 {
		t.Fatalf("%d contacts stored from invalid input", n)
	}

	bob := addContact(t, db, "bob", 1)
	if err := db.SetContactState(ctx, bob.ID, "friend", ms(1)); err == nil {
		t.Error("SetContactState with an unknown state succeeded")
	}
	if err := db.SetContactState(ctx, bob.ID+1, ContactBlocked, ms(1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetContactState of a missing contact: err = %v, want ErrNotFound", err)
	}
	if err := db.SetContactVerified(ctx, bob.ID+1, true, ms(1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetContactVerified of a missing contact: err = %v, want ErrNotFound", err)
	}
	if err := db.SetPendingKey(ctx, bob.ID, make([]byte, 31), ms(1)); err == nil {
		t.Error("SetPendingKey with a 31-byte key succeeded")
	}
	if err := db.SetPendingKey(ctx, bob.ID, bob.PublicKey, ms(1)); err == nil {
		t.Error("SetPendingKey with the pinned key succeeded")
	}
	if err := db.SetPendingKey(ctx, bob.ID+1, pubKey(2), ms(1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPendingKey of a missing contact: err = %v, want ErrNotFound", err)
	}
	if err := db.SetPendingKey(ctx, bob.ID+1, nil, ms(1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("clearing the pending key of a missing contact: err = %v, want ErrNotFound", err)
	}
	if err := db.AcceptPendingKey(ctx, bob.ID+1, ms(1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("AcceptPendingKey of a missing contact: err = %v, want ErrNotFound", err)
	}
	if got, _ := db.Contact(ctx, bob.ID); !reflect.DeepEqual(got, bob) {
		t.Errorf("refused changes changed the contact:\n got %+v\nwant %+v", got, bob)
	}
}

func TestContactStateAndVerified(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContactState(t, db, "bob", 1, ContactOutgoing)
	addContactState(t, db, "alice", 2, ContactIncoming)

	if err := db.SetContactState(ctx, bob.ID, ContactAccepted, ms(50)); err != nil {
		t.Fatal(err)
	}
	if err := db.SetContactVerified(ctx, bob.ID, true, ms(60)); err != nil {
		t.Fatal(err)
	}
	got, err := db.Contact(ctx, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != ContactAccepted || !got.Verified || !got.Updated.Equal(ms(60)) || !got.Created.Equal(bob.Created) {
		t.Errorf("after SetContactState and SetContactVerified: %+v", got)
	}
	if err := db.SetContactVerified(ctx, bob.ID, false, ms(70)); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Contact(ctx, bob.ID); got.Verified {
		t.Error("SetContactVerified(false) left it verified")
	}
	if err := db.SetContactState(ctx, bob.ID, ContactBlocked, ms(80)); err != nil {
		t.Fatal(err)
	}

	cs, err := db.Contacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, fmt.Sprintf("%s:%s", c.Username, c.State))
	}
	if fmt.Sprint(names) != "[alice:incoming bob:blocked]" {
		t.Errorf("Contacts = %v", names)
	}
}

func TestPendingKey(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)
	if err := db.SetContactVerified(ctx, bob.ID, true, ms(1)); err != nil {
		t.Fatal(err)
	}

	if err := db.AcceptPendingKey(ctx, bob.ID, ms(2)); !errors.Is(err, ErrNotFound) {
		t.Errorf("AcceptPendingKey with no pending key: err = %v, want ErrNotFound", err)
	}
	newKey := pubKey(2)
	if err := db.SetPendingKey(ctx, bob.ID, newKey, ms(3)); err != nil {
		t.Fatal(err)
	}
	got, _ := db.Contact(ctx, bob.ID)
	if !got.PendingKey.Equal(newKey) || !got.PublicKey.Equal(bob.PublicKey) || !got.Verified {
		t.Errorf("after SetPendingKey: %+v; want the new key pending, the old pinned and still verified", got)
	}
	// Envelopes from the new key are not Bob's yet.
	if _, err := db.ContactByNodeID(ctx, sha256.Sum256(newKey)); !errors.Is(err, ErrNotFound) {
		t.Errorf("ContactByNodeID(pending key): err = %v, want ErrNotFound", err)
	}

	// Clearing it.
	if err := db.SetPendingKey(ctx, bob.ID, nil, ms(4)); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Contact(ctx, bob.ID); got.PendingKey != nil {
		t.Errorf("after clearing: pending key %x", got.PendingKey)
	}

	if err := db.SetPendingKey(ctx, bob.ID, newKey, ms(5)); err != nil {
		t.Fatal(err)
	}
	if err := db.AcceptPendingKey(ctx, bob.ID, ms(6)); err != nil {
		t.Fatal(err)
	}
	got, _ = db.Contact(ctx, bob.ID)
	want := bob
	want.PublicKey, want.NodeID, want.PendingKey, want.Verified, want.Updated = newKey, sha256.Sum256(newKey), nil, false, ms(6)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after AcceptPendingKey:\n got %+v\nwant %+v", got, want)
	}
	if c, err := db.ContactByNodeID(ctx, sha256.Sum256(newKey)); err != nil || c.ID != bob.ID {
		t.Errorf("ContactByNodeID(new key) = %+v, %v", c, err)
	}
	if _, err := db.ContactByNodeID(ctx, bob.NodeID); !errors.Is(err, ErrNotFound) {
		t.Errorf("ContactByNodeID(old key): err = %v, want ErrNotFound", err)
	}
}

func TestAcceptPendingKeyAtomic(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)
	carol := addContact(t, db, "carol", 2)

	// Bob's new key is Carol's: accepting it would give two contacts one
	// node ID, so nothing at all may change.
	if err := db.SetContactVerified(ctx, bob.ID, true, ms(1)); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPendingKey(ctx, bob.ID, carol.PublicKey, ms(2)); err != nil {
		t.Fatal(err)
	}
	before, _ := db.Contact(ctx, bob.ID)
	if err := db.AcceptPendingKey(ctx, bob.ID, ms(3)); !errors.Is(err, ErrExists) {
		t.Fatalf("AcceptPendingKey of another contact's key: err = %v, want ErrExists", err)
	}
	if after, _ := db.Contact(ctx, bob.ID); !reflect.DeepEqual(after, before) {
		t.Errorf("failed AcceptPendingKey changed the contact:\n was %+v\n now %+v", before, after)
	}
	if err := db.SetPendingKey(ctx, bob.ID, nil, ms(4)); err != nil {
		t.Fatal(err)
	}

	// Readers never see a half-applied key change: the node ID always
	// belongs to the pinned key, and a verified contact always has the key
	// it was verified with.
	const rotations = 200
	verifiedKey := map[string]bool{string(pubKey(1)): true}
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := db.Contact(ctx, bob.ID)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				ok := !c.Verified || verifiedKey[string(c.PublicKey)]
				mu.Unlock()
				if c.NodeID != sha256.Sum256(c.PublicKey) || c.PendingKey.Equal(c.PublicKey) || !ok {
					errs <- fmt.Errorf("inconsistent contact: %+v", c)
					return
				}
			}
		}()
	}
	for i := range rotations {
		k := pubKey(byte(10 + i))
		if err := db.SetPendingKey(ctx, bob.ID, k, ms(10+i)); err != nil {
			t.Fatal(err)
		}
		if err := db.AcceptPendingKey(ctx, bob.ID, ms(10+i)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		verifiedKey[string(k)] = true
		mu.Unlock()
		if err := db.SetContactVerified(ctx, bob.ID, true, ms(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c, _ := db.Contact(ctx, bob.ID); !c.PublicKey.Equal(pubKey(10 + rotations - 1)) {
		t.Errorf("after %d rotations the key is %x", rotations, c.PublicKey[:4])
	}
}

func TestContactSummaries(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	me := nodeID(0xee)
	alice := addContact(t, db, "alice", 1) // messages, some unread
	bob := addContact(t, db, "bob", 2)     // no messages, updated at ms(2)
	carol := addContact(t, db, "carol", 3) // one outgoing message, the newest
	dave := addContact(t, db, "dave", 4)   // removed
	add := func(c Contact, n int, dir Direction, sent int) {
		t.Helper()
		author := c.NodeID
		if dir == Outgoing {
			author = me
		}
		if _, _, err := db.AddMessage(ctx, Message{ContactID: c.ID, MsgID: msgID(c.ID, n), Author: author,
			Direction: dir, Body: fmt.Sprintf("%s %d", c.Username, n), Sent: ms(sent), Received: ms(sent)}); err != nil {
			t.Fatal(err)
		}
	}
	add(alice, 1, Incoming, 100)
	add(alice, 2, Outgoing, 110)
	add(alice, 3, Incoming, 120)
	add(alice, 4, Incoming, 120) // same time as 3 and added later: newest by ID
	add(carol, 1, Outgoing, 500)
	add(dave, 1, Incoming, 900)
	if err := db.SetContactState(ctx, dave.ID, ContactRemoved, ms(901)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MarkRead(ctx, alice.ID, ms(100), ms(130)); err != nil {
		t.Fatal(err)
	}

	sums, err := db.ContactSummaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type line struct {
		name   string
		last   string
		dir    Direction
		sent   int64
		unread int
	}
	var got []line
	for _, s := range sums {
		l := line{name: s.Username, unread: s.Unread}
		if s.Last != nil {
			l.last, l.dir, l.sent = s.Last.Body, s.Last.Direction, s.Last.Sent.Sub(t0).Milliseconds()
			if s.Last.ContactID != s.ID {
				t.Errorf("%s: last message belongs to contact %d", s.Username, s.Last.ContactID)
			}
		}
		got = append(got, l)
	}
	want := []line{
		{"carol", "carol 1", Outgoing, 500, 0},
		{"alice", "alice 4", Incoming, 120, 2},
		{"bob", "", "", 0, 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ContactSummaries:\n got %+v\nwant %+v", got, want)
	}
	if len(sums) == 3 && !reflect.DeepEqual(sums[2].Contact, bob) {
		t.Errorf("summary contact %+v, want %+v", sums[2].Contact, bob)
	}
}
