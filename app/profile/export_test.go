package profile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/gofrs/flock"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/store"
)

const testPassword = "correct horse battery"

// lowWork makes scrypt cheap for the test (2^10 to write, at most 2^12
// read) and restores the defaults after it.
func lowWork(t testing.TB) {
	w, m := exportWorkFactor, importMaxWorkFactor
	exportWorkFactor, importMaxWorkFactor = 10, 12
	t.Cleanup(func() { exportWorkFactor, importMaxWorkFactor = w, m })
}

// newOfflineProfile makes a profile for name with no network at all.
func newOfflineProfile(t testing.TB, name string) *Profile {
	t.Helper()
	id, err := identity.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Create(context.Background(), filepath.Join(t.TempDir(), "profile"), name, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// populate gives p two contacts, a conversation, a call log, a host cache
// and a setting.
func populate(t testing.TB, p *Profile) {
	t.Helper()
	ctx := context.Background()
	now := time.UnixMilli(1_750_000_000_000)
	me := p.Identity.NodeID()
	var bobID int64
	for i, name := range []string{"bob", "carol"} {
		id, err := identity.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		state := store.ContactAccepted
		if name == "carol" {
			state = store.ContactIncoming
		}
		cid, err := p.DB.AddContact(ctx, store.Contact{Username: name, PublicKey: id.PublicKey(), State: state, RequestMessage: "hi, it's " + name, Created: now.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if name == "bob" {
			bobID = cid
			if err := p.DB.SetContactVerified(ctx, cid, true, now); err != nil {
				t.Fatal(err)
			}
			for j := range 20 {
				m := store.Message{ContactID: cid, MsgID: [16]byte{byte(j), 1}, Direction: store.Outgoing, Author: me,
					Body: fmt.Sprintf("message %d ✓ with unicode", j), Sent: now.Add(time.Duration(j) * time.Minute), State: store.MessageDelivered}
				if j%2 == 1 {
					m.Direction, m.Author, m.State = store.Incoming, id.NodeID(), store.MessageRead
				}
				m.Received, m.StateChanged = m.Sent, m.Sent
				if _, _, err := p.DB.AddMessage(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if _, err := p.DB.AddCall(ctx, store.Call{ContactID: bobID, CallID: [16]byte{7}, Direction: store.Outgoing,
		Started: now, Answered: now.Add(3 * time.Second), Ended: now.Add(65 * time.Second), Outcome: store.CallAnswered}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DB.AddCall(ctx, store.Call{ContactID: bobID, CallID: [16]byte{8}, Direction: store.Incoming,
		Started: now.Add(time.Hour), Ended: now.Add(time.Hour + 30*time.Second), Outcome: store.CallMissed}); err != nil {
		t.Fatal(err)
	}
	if err := p.DB.AddHosts(ctx, []store.Host{{NodeID: [32]byte{1}, Addr: "192.0.2.1:4717"}, {NodeID: [32]byte{2}, Addr: "192.0.2.2:4717"}}, now); err != nil {
		t.Fatal(err)
	}
	if err := p.DB.HostSucceeded(ctx, [32]byte{2}, "192.0.2.2:4717", now); err != nil {
		t.Fatal(err)
	}
	if err := p.SetSupernodeRole(ctx, false); err != nil {
		t.Fatal(err)
	}
}

// contents is everything a user would miss after a move.
type contents struct {
	NodeID, Fingerprint, Username string
	Contacts                      []store.Contact
	Messages                      map[string][]store.Message
	Calls                         []store.Call
	Hosts                         []store.Host
	SupernodeOff                  bool
}

func contentsOf(t testing.TB, p *Profile) contents {
	t.Helper()
	ctx := context.Background()
	c := contents{NodeID: p.Identity.NodeID().String(), Fingerprint: p.Fingerprint(), Username: p.Username, Messages: map[string][]store.Message{}}
	var err error
	if c.Contacts, err = p.DB.Contacts(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ct := range c.Contacts {
		if c.Messages[ct.Username], err = p.DB.Messages(ctx, ct.ID, store.Cursor{}, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if c.Calls, err = p.DB.RecentCalls(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if c.Hosts, err = p.DB.Hosts(ctx); err != nil {
		t.Fatal(err)
	}
	if c.SupernodeOff, err = p.SupernodeRoleOff(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// export exports p with testPassword.
func export(t testing.TB, p *Profile) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Export(context.Background(), p, &b, testPassword, "test"); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// assertNothingLeft fails unless dir does not exist and its parent holds
// no temporary import directory.
func assertNothingLeft(t testing.TB, dir string) {
	t.Helper()
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed import left %s (%v)", dir, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".parley-import-") {
			t.Errorf("a failed import left %s", e.Name())
		}
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	lowWork(t)
	ctx := context.Background()
	alice := newOfflineProfile(t, "alice")
	populate(t, alice)
	want := contentsOf(t, alice)
	if len(want.Contacts) != 2 || len(want.Messages["bob"]) != 20 || len(want.Calls) != 2 || len(want.Hosts) != 2 || !want.SupernodeOff {
		t.Fatalf("populate made too little: %+v", want)
	}

	// The profile is open (and locked) while it is exported.
	file := export(t, alice)
	if bytes.Contains(file, alice.Identity.Seed()) || bytes.Contains(file, []byte("message 3")) {
		t.Fatal("the export holds the private key or a message in the clear")
	}
	if !bytes.HasPrefix(file, []byte("age-encryption.org/v1\n-> scrypt ")) || !bytes.Contains(file[:200], []byte(fmt.Sprintf(" %d\n", exportWorkFactor))) {
		t.Fatalf("not an age file to one scrypt recipient at work factor %d: %q", exportWorkFactor, file[:min(len(file), 120)])
	}
	entries, _ := os.ReadDir(alice.Dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), snapshotPrefix) {
			t.Errorf("the export left %s in the profile", e.Name())
		}
	}
	// What an export killed midway left is removed by the next one, once
	// it is an hour old.
	stale, fresh := filepath.Join(alice.Dir, snapshotPrefix+"1"), filepath.Join(alice.Dir, snapshotPrefix+"2")
	for _, d := range []string{stale, fresh} {
		os.Mkdir(d, 0o700)
		os.WriteFile(filepath.Join(d, DBFile), []byte("left over"), 0o600)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	export(t, alice)
	if exists(stale) || !exists(fresh) {
		t.Errorf("stale snapshot removed: %v, recent one kept: %v", !exists(stale), exists(fresh))
	}
	os.RemoveAll(fresh)
	t.Logf("export of %d messages, 2 contacts, 2 calls: %d bytes", len(want.Messages["bob"]), len(file))

	dir := filepath.Join(t.TempDir(), "new-computer", "parley")
	imported, err := Import(ctx, bytes.NewReader(file), testPassword, dir)
	if err != nil {
		t.Fatal(err)
	}
	got := contentsOf(t, imported)
	imported.Close()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("imported profile differs:\n got %+v\nwant %+v", got, want)
	}
	entries, _ = os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 || entries[0].Name() != "parley" {
		t.Errorf("the import left more than the profile beside it: %v", entries)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("imported profile directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
	// It opens again like any profile, with the same identity.
	p, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Identity.NodeID() != alice.Identity.NodeID() || p.Fingerprint() != alice.Fingerprint() || p.Username != "alice" {
		t.Fatal("the reopened import has another identity")
	}
	p.Close()

	// Into an existing empty directory (one the user made) too.
	empty := t.TempDir()
	p, err = Import(ctx, bytes.NewReader(file), testPassword, empty)
	if err != nil {
		t.Fatalf("import into an empty directory: %v", err)
	}
	if got := contentsOf(t, p); !reflect.DeepEqual(got, want) {
		t.Fatal("import into an existing directory differs")
	}
	p.Close()
}

func TestExportWhileWriting(t *testing.T) {
	lowWork(t)
	ctx := context.Background()
	alice := newOfflineProfile(t, "alice")
	populate(t, alice)
	bob, err := alice.DB.ContactByUsername(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		defer func() { done <- n }()
		for ; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			now := time.Now()
			m := store.Message{ContactID: bob.ID, MsgID: [16]byte{0xff, byte(n), byte(n >> 8)}, Author: alice.Identity.NodeID(), Direction: store.Outgoing,
				Body: "written during the export", Sent: now, Received: now, State: store.MessagePending, StateChanged: now}
			if _, _, err := alice.DB.AddMessage(ctx, m); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var files [][]byte
	for range 3 {
		files = append(files, export(t, alice))
	}
	close(stop)
	written := <-done
	for i, f := range files {
		p, err := Import(ctx, bytes.NewReader(f), testPassword, filepath.Join(t.TempDir(), "p"))
		if err != nil {
			t.Fatalf("export %d taken during writes: %v", i, err)
		}
		n, err := p.DB.CountMessages(ctx, bob.ID)
		p.Close()
		if err != nil || n < 20 || n > 20+written {
			t.Fatalf("export %d holds %d messages (%v); 20 to %d expected", i, n, err, 20+written)
		}
		t.Logf("export %d: %d of %d messages", i, n, 20+written)
	}
}

func TestExportRefusesWeakPassword(t *testing.T) {
	lowWork(t)
	alice := newOfflineProfile(t, "alice")
	for _, pw := range []string{"", "a", "1234567", "ééééééé"} {
		var b bytes.Buffer
		if err := Export(context.Background(), alice, &b, pw, "test"); !errors.Is(err, ErrWeakPassword) || b.Len() != 0 {
			t.Errorf("password %q: %v, %d bytes written; want ErrWeakPassword and nothing", pw, err, b.Len())
		}
	}
	file := filepath.Join(t.TempDir(), "x.parley")
	if err := ExportFile(context.Background(), alice, file, "short", "test"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("ExportFile with a short password: %v", err)
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("a refused export left a file")
	}
}

func TestExportFile(t *testing.T) {
	lowWork(t)
	ctx := context.Background()
	alice := newOfflineProfile(t, "alice")
	dir := t.TempDir()
	path := filepath.Join(dir, "alice.parley")
	if err := ExportFile(ctx, alice, path, testPassword, "test"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v, %v; want mode 0600", fi, err)
	}
	before, _ := os.ReadFile(path)
	if err := ExportFile(ctx, alice, path, testPassword, "test"); err == nil {
		t.Fatal("an export replaced an existing file")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a refused export changed the existing file")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the export left temporary files: %v", entries)
	}
	f, _ := os.Open(path)
	defer f.Close()
	p, err := Import(ctx, f, testPassword, filepath.Join(t.TempDir(), "p"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Identity.NodeID() != alice.Identity.NodeID() {
		t.Fatal("another identity")
	}
}

func TestImportRefusals(t *testing.T) {
	lowWork(t)
	ctx := context.Background()
	alice := newOfflineProfile(t, "alice")
	populate(t, alice)
	file := export(t, alice)

	check := func(name string, data []byte, password string, want error) {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "profile")
		p, err := Import(ctx, bytes.NewReader(data), password, dir)
		if err == nil {
			p.Close()
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		} else {
			t.Logf("%s: %v", name, err)
		}
		assertNothingLeft(t, dir)
	}
	check("wrong password", file, "correct horse batterY", ErrWrongPassword)
	check("empty password", file, "", ErrWrongPassword)
	check("empty file", nil, testPassword, ErrBadExport)
	check("garbage", bytes.Repeat([]byte("parley"), 1000), testPassword, ErrBadExport)
	check("a text file", []byte("age-encryption.org/v1\nhello\n"), testPassword, ErrBadExport)
	for _, n := range []int{10, 100, len(file) / 2, len(file) - 17, len(file) - 1} {
		check(fmt.Sprintf("truncated to %d of %d bytes", n, len(file)), file[:n], testPassword, ErrBadExport)
	}
	check("trailing bytes", append(bytes.Clone(file), 0), testPassword, ErrBadExport)
	flipped := bytes.Clone(file)
	flipped[len(flipped)/2] ^= 1
	check("a flipped bit", flipped, testPassword, ErrBadExport)

	// A file of several age chunks (64 KiB each), cut after a whole chunk:
	// only the missing last-chunk flag tells.
	big := newOfflineProfile(t, "big")
	populate(t, big)
	bob, _ := big.DB.ContactByUsername(ctx, "bob")
	noise := make([]byte, 200)
	for i := range 1000 {
		rand.Read(noise)
		m := store.Message{ContactID: bob.ID, MsgID: [16]byte{0xee, byte(i), byte(i >> 8)}, Author: big.Identity.NodeID(), Direction: store.Outgoing,
			Body: hex.EncodeToString(noise), Sent: time.UnixMilli(int64(i + 1)), State: store.MessageSent}
		m.Received, m.StateChanged = m.Sent, m.Sent
		if _, _, err := big.DB.AddMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	bigFile := export(t, big)
	const chunk = 64<<10 + 16
	payload := bytes.Index(bigFile, []byte("\n--- ")) + len("\n--- ") + 43 + 1 + 16 // header MAC line, then the nonce
	if len(bigFile) < payload+2*chunk {
		t.Fatalf("the big export is %d bytes: fewer than 3 chunks", len(bigFile))
	}
	if p, err := Import(ctx, bytes.NewReader(bigFile), testPassword, filepath.Join(t.TempDir(), "p")); err != nil {
		t.Fatalf("the big export: %v", err)
	} else {
		p.Close()
	}
	check("cut after the first chunk", bigFile[:payload+chunk], testPassword, ErrBadExport)
	check("cut after the second chunk", bigFile[:payload+2*chunk], testPassword, ErrBadExport)

	// A file asking for more scrypt work than an import accepts.
	exportWorkFactor = importMaxWorkFactor + 1
	check("too much scrypt work", export(t, alice), testPassword, ErrBadExport)
	exportWorkFactor = 10

	// Sealed to a key, not a password.
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, _ := age.Encrypt(&b, key.Recipient())
	w.Write([]byte("not for a password"))
	w.Close()
	check("sealed to a key", b.Bytes(), testPassword, ErrBadExport)

	// An existing profile is never overwritten.
	existing := newOfflineProfile(t, "bob")
	existing.Close()
	dbPath := filepath.Join(existing.Dir, DBFile)
	sum := fileSum(t, dbPath)
	if _, err := Import(ctx, bytes.NewReader(file), testPassword, existing.Dir); !errors.Is(err, ErrProfileExists) {
		t.Fatalf("import over a profile: %v, want ErrProfileExists", err)
	}
	if fileSum(t, dbPath) != sum {
		t.Fatal("the existing profile was changed")
	}
	p, err := Open(ctx, existing.Dir)
	if err != nil || p.Username != "bob" {
		t.Fatalf("existing profile after a refused import: %v", err)
	}
	p.Close()

	// A directory whose lock another Parley holds is not written to, even
	// without a database.
	held := t.TempDir()
	lk := flock.New(filepath.Join(held, lockFile))
	if ok, err := lk.TryLock(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	defer lk.Unlock()
	if _, err := Import(ctx, bytes.NewReader(file), testPassword, held); !errors.Is(err, ErrProfileLocked) {
		t.Fatalf("import into a held directory: %v, want ErrProfileLocked", err)
	}
	if exists(filepath.Join(held, DBFile)) {
		t.Fatal("the import wrote into a held directory")
	}
	assertNothingLeft(t, filepath.Join(held, "nothing"))
}

// rawDB opens an SQLite file with the driver directly.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// archiveEntry is one file of a hand-made archive.
type archiveEntry struct {
	hdr  tar.Header
	body []byte
}

// plainArchive is a hand-made archive, gzip-compressed, without age.
func plainArchive(t testing.TB, entries []archiveEntry, trailing []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = int64(len(e.body))
		}
		h.Mode = 0o600
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.body)
	}
	tw.Close()
	gz.Write(trailing)
	gz.Close()
	return b.Bytes()
}

// seal encrypts plain as an export does.
func seal(t testing.TB, plain []byte) []byte {
	t.Helper()
	rcpt, err := age.NewScryptRecipient(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	rcpt.SetWorkFactor(exportWorkFactor)
	var b bytes.Buffer
	w, err := age.Encrypt(&b, rcpt)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	w.Close()
	return b.Bytes()
}

// goodParts returns a manifest and database of p as an export holds them.
func goodParts(t testing.TB, p *Profile) (exportManifest, []byte) {
	t.Helper()
	snap := filepath.Join(t.TempDir(), "snap.db")
	if err := p.DB.Snapshot(context.Background(), snap); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	return manifestFor(p, db), db
}

func manifestFor(p *Profile, db []byte) exportManifest {
	sum := sha256.Sum256(db)
	return exportManifest{Format: exportFormat, Version: exportVersion, NodeID: p.Identity.NodeID().String(), Username: p.Username,
		Fingerprint: p.Fingerprint(), Exported: time.Now().UTC(), DBSize: int64(len(db)), DBSHA256: hex.EncodeToString(sum[:])}
}

func withNode(m exportManifest, node, name string) exportManifest {
	m.NodeID, m.Username = node, name
	return m
}

func manifestEntry(m exportManifest) archiveEntry {
	b, _ := json.Marshal(m)
	return archiveEntry{tar.Header{Name: manifestName}, b}
}

func TestImportHostileArchives(t *testing.T) {
	lowWork(t)
	ctx := context.Background()
	alice := newOfflineProfile(t, "alice")
	populate(t, alice)
	m, db := goodParts(t, alice)
	good := []archiveEntry{manifestEntry(m), {tar.Header{Name: DBFile}, db}}

	// The hand-made archive is accepted as it is: the cases below differ
	// from it in one way each.
	p, err := Import(ctx, bytes.NewReader(seal(t, plainArchive(t, good, nil))), testPassword, filepath.Join(t.TempDir(), "p"))
	if err != nil {
		t.Fatalf("the hand-made archive is refused: %v", err)
	}
	p.Close()

	// A database with a trigger, and one with an extra table.
	withSQL := func(q string) []byte {
		path := filepath.Join(t.TempDir(), "x.db")
		os.WriteFile(path, db, 0o600)
		d, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		// Through the driver directly: store has no API for this.
		raw := rawDB(t, path)
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		b, _ := os.ReadFile(path)
		return b
	}
	trigger := withSQL("CREATE TRIGGER evil AFTER INSERT ON messages BEGIN DELETE FROM contacts; END")
	extra := withSQL("CREATE TABLE extra (x)")
	other := newOfflineProfile(t, "mallory")
	_, otherDB := goodParts(t, other)
	newer := m
	newer.Version = exportVersion + 1
	wrongFormat := m
	wrongFormat.Format = "something-else"
	badSum := m
	badSum.DBSHA256 = strings.Repeat("0", 64)
	restore := maxImportDB
	defer func() { maxImportDB = restore }()

	outside := filepath.Join(t.TempDir(), "outside")
	for _, c := range []struct {
		name     string
		entries  []archiveEntry
		trailing []byte
		after    []byte // after the gzip stream
		small    bool   // with maxImportDB smaller than the database
		corrupt  bool   // also wraps store.ErrCorrupt
	}{
		{name: "path traversal", entries: []archiveEntry{manifestEntry(m), {tar.Header{Name: "../" + filepath.Base(filepath.Dir(outside)) + "/outside"}, db}}},
		{name: "absolute path", entries: []archiveEntry{manifestEntry(m), {tar.Header{Name: outside}, db}}},
		{name: "database in a subdirectory", entries: []archiveEntry{manifestEntry(m), {tar.Header{Name: "x/" + DBFile}, db}}},
		{name: "symlink", entries: []archiveEntry{manifestEntry(m), {tar.Header{Name: DBFile, Typeflag: tar.TypeSymlink, Linkname: outside}, nil}}},
		{name: "hard link", entries: []archiveEntry{manifestEntry(m), {tar.Header{Name: DBFile, Typeflag: tar.TypeLink, Linkname: manifestName}, nil}}},
		{name: "directory", entries: []archiveEntry{manifestEntry(m), {tar.Header{Name: DBFile, Typeflag: tar.TypeDir}, nil}}},
		{name: "database first", entries: []archiveEntry{{tar.Header{Name: DBFile}, db}, manifestEntry(m)}},
		{name: "no database", entries: []archiveEntry{manifestEntry(m)}},
		{name: "empty archive"},
		{name: "a third file", entries: []archiveEntry{manifestEntry(m), {tar.Header{Name: DBFile}, db}, {tar.Header{Name: "extra"}, []byte("x")}}},
		{name: "two databases", entries: []archiveEntry{manifestEntry(m), {tar.Header{Name: DBFile}, db}, {tar.Header{Name: DBFile}, db}}},
		{name: "manifest not JSON", entries: []archiveEntry{{tar.Header{Name: manifestName}, []byte("{")}, {tar.Header{Name: DBFile}, db}}},
		{name: "huge manifest", entries: []archiveEntry{{tar.Header{Name: manifestName}, make([]byte, maxManifest+1)}, {tar.Header{Name: DBFile}, db}}},
		{name: "newer format", entries: []archiveEntry{manifestEntry(newer), {tar.Header{Name: DBFile}, db}}},
		{name: "another format", entries: []archiveEntry{manifestEntry(wrongFormat), {tar.Header{Name: DBFile}, db}}},
		{name: "checksum mismatch", entries: []archiveEntry{manifestEntry(badSum), {tar.Header{Name: DBFile}, db}}},
		{name: "another identity's database", entries: []archiveEntry{manifestEntry(withNode(manifestFor(other, otherDB), m.NodeID, m.Username)), {tar.Header{Name: DBFile}, otherDB}}},
		{name: "too big", entries: good, small: true},
		{name: "data after the archive", entries: good, trailing: make([]byte, maxTrailing+1)},
		{name: "data after the gzip stream", entries: good, after: []byte("more")},
		{name: "a second gzip stream", entries: good, after: plainArchive(t, good, nil)},
		{name: "not a database", entries: []archiveEntry{manifestEntry(manifestFor(alice, []byte("not sqlite at all"))), {tar.Header{Name: DBFile}, []byte("not sqlite at all")}}, corrupt: true},
		{name: "a trigger", entries: []archiveEntry{manifestEntry(manifestFor(alice, trigger)), {tar.Header{Name: DBFile}, trigger}}, corrupt: true},
		{name: "an extra table", entries: []archiveEntry{manifestEntry(manifestFor(alice, extra)), {tar.Header{Name: DBFile}, extra}}, corrupt: true},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			maxImportDB = restore
			if c.small {
				maxImportDB = int64(len(db)) - 1
			}
			file := seal(t, append(plainArchive(t, c.entries, c.trailing), c.after...))
			dir := filepath.Join(t.TempDir(), "profile")
			p, err := Import(ctx, bytes.NewReader(file), testPassword, dir)
			if err == nil {
				p.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrBadExport) || (c.corrupt && !errors.Is(err, store.ErrCorrupt)) {
				t.Fatalf("%v, want ErrBadExport (corrupt %v)", err, c.corrupt)
			}
			t.Log(err)
			assertNothingLeft(t, dir)
			if _, err := os.Lstat(outside); err == nil {
				t.Fatal("the import wrote outside its directory")
			}
		})
	}
}

// fuzzSeeds returns a valid export and its decrypted archive.
func fuzzSeeds(t testing.TB) (sealed, plain []byte) {
	t.Helper()
	p := newOfflineProfile(t, "alice")
	m, db := goodParts(t, p)
	plain = plainArchive(t, []archiveEntry{manifestEntry(m), {tar.Header{Name: DBFile}, db}}, nil)
	return seal(t, plain), plain
}

// FuzzImport feeds Import arbitrary files: it must never panic,
// and must accept a file or refuse it with ErrBadExport or
// ErrWrongPassword, leaving nothing behind.
func FuzzImport(f *testing.F) {
	lowWork(f)
	sealed, _ := fuzzSeeds(f)
	f.Add(sealed)
	f.Add(sealed[:len(sealed)/2])
	f.Add([]byte("age-encryption.org/v1\n-> scrypt AAAAAAAAAAAAAAAAAAAAAA 10\nAAAA\n--- AAAA\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := filepath.Join(t.TempDir(), "p")
		p, err := Import(context.Background(), bytes.NewReader(data), testPassword, dir)
		if err == nil {
			p.Close()
			return
		}
		if !errors.Is(err, ErrBadExport) && !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("unexpected error: %v", err)
		}
		assertNothingLeft(t, dir)
	})
}

// FuzzImportArchive feeds the decrypted layer (gzip, tar, manifest,
// database) arbitrary bytes, which the fuzzer could not reach through
// age's authentication.
func FuzzImportArchive(f *testing.F) {
	_, plain := fuzzSeeds(f)
	f.Add(plain)
	f.Add(plain[:len(plain)/3])
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		m, err := readArchive(context.Background(), bytes.NewReader(data), dir)
		if err == nil {
			err = checkImported(context.Background(), filepath.Join(dir, DBFile), m)
		}
		if err != nil && !errors.Is(err, ErrBadExport) {
			t.Fatalf("unexpected error: %v", err)
		}
	})
}

// BenchmarkExportImport exports and imports a profile of 500 contacts and
// 10,000 messages at the real scrypt work factor, as a user moving
// computers would, and reports the file's size.
func BenchmarkExportImport(b *testing.B) {
	ctx := context.Background()
	p := newOfflineProfile(b, "alice")
	me := p.Identity.NodeID()
	now := time.Now()
	var ids []int64
	for i := range 500 {
		id, err := identity.New(nil)
		if err != nil {
			b.Fatal(err)
		}
		cid, err := p.DB.AddContact(ctx, store.Contact{Username: fmt.Sprintf("contact%03d", i), PublicKey: id.PublicKey(), State: store.ContactAccepted, Created: now})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, cid)
	}
	for i := range 10000 {
		t := now.Add(time.Duration(i) * time.Second)
		m := store.Message{ContactID: ids[i%len(ids)], MsgID: [16]byte{1, byte(i), byte(i >> 8)}, Author: me, Direction: store.Outgoing,
			Body: fmt.Sprintf("message %d: a line of ordinary chat, about as long as most are", i), Sent: t, Received: t, State: store.MessageRead, StateChanged: t}
		if _, _, err := p.DB.AddMessage(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	var size int
	var exp, imp time.Duration
	for b.Loop() {
		start := time.Now()
		var buf bytes.Buffer
		if err := Export(ctx, p, &buf, testPassword, "test"); err != nil {
			b.Fatal(err)
		}
		exp += time.Since(start)
		size = buf.Len()
		start = time.Now()
		q, err := Import(ctx, &buf, testPassword, filepath.Join(b.TempDir(), "p"))
		if err != nil {
			b.Fatal(err)
		}
		imp += time.Since(start)
		q.Close()
	}
	fi, _ := os.Stat(filepath.Join(p.Dir, DBFile))
	b.ReportMetric(float64(size), "file-bytes")
	b.ReportMetric(float64(exp.Milliseconds())/float64(b.N), "export-ms")
	b.ReportMetric(float64(imp.Milliseconds())/float64(b.N), "import-ms")
	if fi != nil {
		b.Logf("database %d bytes (plus WAL), export file %d bytes", fi.Size(), size)
	}
}
