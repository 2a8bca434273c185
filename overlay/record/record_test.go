package record

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parleynet/parley/internal/testutil"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/wire"
)

// recNow is the fixed clock of the record tests. It falls on a whole
// millisecond, so records' times (unix milliseconds) are exact.
var recNow = time.UnixMilli(1_700_000_000_000)

// recPolicy is the policy the record tests validate against: the test
// difficulty and the fixed clock.
func recPolicy() Policy {
	return Policy{Difficulty: testDifficulty, Now: func() time.Time { return recNow }}
}

// recIdentity returns a deterministic identity: the seed is b repeated.
func recIdentity(t testing.TB, b byte) *identity.Identity {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// recClone returns a deep copy of rec.
func recClone(rec *wire.Record) *wire.Record {
	c := *rec
	c.Owner = bytes.Clone(rec.Owner)
	c.Body = bytes.Clone(rec.Body)
	c.Sig = bytes.Clone(rec.Sig)
	return &c
}

// recMarshal marshals a record body, failing the test on error.
func recMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recSigned returns the record of kind with body and times, signed by id.
func recSigned(t testing.TB, id *identity.Identity, kind wire.Kind, body []byte, seq uint64, issued, expires time.Time) *wire.Record {
	t.Helper()
	rec := &wire.Record{Kind: kind, Seq: seq, Issued: issued.UnixMilli(), Expires: expires.UnixMilli(), Body: body}
	if err := Sign(id, rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// recPoWZeros computes the claim proof-of-work hash independently of
// pow.go, from the documented formula, and returns its leading zero bits.
func recPoWZeros(name string, owner ed25519.PublicKey, nonce uint64) int {
	b := []byte("parley-claim-pow-v1\x00")
	b = append(b, name...)
	b = append(b, 0)
	b = append(b, owner...)
	b = binary.BigEndian.AppendUint64(b, nonce)
	h := sha256.Sum256(b)
	n := 0
	for _, c := range h {
		if c != 0 {
			return n + bits.LeadingZeros8(c)
		}
		n += 8
	}
	return n
}

// recBadNonce returns a nonce that does not meet difficulty for a claim of
// name by owner.
func recBadNonce(name string, owner ed25519.PublicKey, difficulty int) uint64 {
	for nonce := uint64(0); ; nonce++ {
		if recPoWZeros(name, owner, nonce) < difficulty {
			return nonce
		}
	}
}

// recClaimBodyFor returns a claim body for name (taken as is, not
// normalized) by id whose proof of work meets testDifficulty.
func recClaimBodyFor(t testing.TB, id *identity.Identity, name string) []byte {
	t.Helper()
	nonce := SolveClaimPoW(name, id.PublicKey(), testDifficulty)
	if recPoWZeros(name, id.PublicKey(), nonce) < testDifficulty {
		t.Fatalf("SolveClaimPoW(%q) = %d, which does not meet difficulty %d", name, nonce, testDifficulty)
	}
	return recMarshal(t, wire.ClaimBody{Name: name, Nonce: nonce})
}

// recWantValid validates rec with p and checks that it lives under want.
func recWantValid(t testing.TB, p Policy, rec *wire.Record, want [32]byte) {
	t.Helper()
	key, err := p.Validate(rec)
	if err != nil {
		t.Fatalf("Validate: %v; want the record accepted", err)
	}
	if key != want {
		t.Fatalf("Validate key = %x; want %x", key, want)
	}
}

// recWantBad validates rec with p and checks that it is refused with an
// error wrapping ErrBadRecord and no key.
func recWantBad(t testing.TB, p Policy, rec *wire.Record) {
	t.Helper()
	key, err := p.Validate(rec)
	if !errors.Is(err, ErrBadRecord) {
		t.Fatalf("Validate = %x, %v; want an error wrapping ErrBadRecord", key, err)
	}
	if key != ([32]byte{}) {
		t.Fatalf("Validate refused the record but returned key %x", key)
	}
}

func TestNormalizeNameAccepts(t *testing.T) {
	for in, want := range map[string]string{
		"  Alice.Example ":            "alice.example",
		"\tBOB\n":                     "bob",
		"abc":                         "abc",
		"ABC":                         "abc",
		strings.Repeat("a", 32):       strings.Repeat("a", 32),
		" " + strings.Repeat("Z", 32): strings.Repeat("z", 32), // trimmed before the length check
		"a0123456789":                 "a0123456789",
		"a._-":                        "a._-",
		"x-Y_z.9":                     "x-y_z.9",
		"z..":                         "z..",
	} {
		got, err := NormalizeName(in)
		if err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
			continue
		}
		// A normalized name is its own normal form.
		if again, err := NormalizeName(got); err != nil || again != got {
			t.Errorf("NormalizeName(%q) = %q, %v; want it unchanged", got, again, err)
		}
	}
}

func TestNormalizeNameRefuses(t *testing.T) {
	for _, in := range []string{
		"",
		"   ",
		"ab",
		"  ab  ", // two characters once trimmed
		strings.Repeat("a", 33),
		" " + strings.Repeat("a", 33) + " ",
		"1abc",
		"a b",
		"ålice",
		"Ålice",
		"alicé",
		"_abc",
		".abc",
		"-abc",
		"abc!",
		"alice@example",
		"al\x00ice",
		"al\tice",
		"ali\u200bce", // zero-width space
		"\xffabc",     // invalid UTF-8
	} {
		got, err := NormalizeName(in)
		if !errors.Is(err, ErrBadName) {
			t.Errorf("NormalizeName(%q) = %q, %v; want an error wrapping ErrBadName", in, got, err)
			continue
		}
		if got != "" {
			t.Errorf("NormalizeName(%q) refused the name but returned %q", in, got)
		}
	}
}

func TestRecordKeyDerivation(t *testing.T) {
	hash := func(parts ...[]byte) [32]byte { return sha256.Sum256(bytes.Join(parts, nil)) }
	if got, want := ClaimKey("alice"), hash([]byte("parley-claim\x00alice")); got != want {
		t.Errorf("ClaimKey(alice) = %x; want %x", got, want)
	}
	id := recIdentity(t, 1).NodeID()
	if got, want := PresenceKey(id), hash([]byte("parley-presence\x00"), id[:]); got != want {
		t.Errorf("PresenceKey = %x; want %x", got, want)
	}
	if got, want := AnnounceKey(id), hash([]byte("parley-announce\x00"), id[:]); got != want {
		t.Errorf("AnnounceKey = %x; want %x", got, want)
	}
	if PresenceKey(id) == AnnounceKey(id) || ClaimKey(string(id[:])) == PresenceKey(id) {
		t.Error("the record kinds share a key space")
	}
	other := recIdentity(t, 2).NodeID()
	if PresenceKey(id) == PresenceKey(other) || AnnounceKey(id) == AnnounceKey(other) || ClaimKey("alice") == ClaimKey("alicf") {
		t.Error("different subjects share a key")
	}
}

func TestClaimValidatesUnderNormalizedNameKey(t *testing.T) {
	id := recIdentity(t, 1)
	rec, err := NewClaim(id, "  Alice.Example ", 7, recNow, ClaimTTL, testDifficulty)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kind != wire.KindClaim || rec.Seq != 7 || rec.Issued != recNow.UnixMilli() ||
		rec.Expires != recNow.Add(ClaimTTL).UnixMilli() || !bytes.Equal(rec.Owner, id.PublicKey()) {
		t.Fatalf("NewClaim = %+v", rec)
	}
	body, err := DecodeClaim(rec)
	if err != nil {
		t.Fatal(err)
	}
	if body.Name != "alice.example" {
		t.Fatalf("claim body name = %q; want alice.example", body.Name)
	}
	if z := recPoWZeros(body.Name, id.PublicKey(), body.Nonce); z < testDifficulty {
		t.Fatalf("claim nonce has %d leading zero bits; want at least %d", z, testDifficulty)
	}
	recWantValid(t, recPolicy(), rec, ClaimKey("alice.example"))
	// Another spelling of the name claims the same key.
	rec2, err := NewClaim(id, "ALICE.example", 8, recNow, time.Hour, testDifficulty)
	if err != nil {
		t.Fatal(err)
	}
	recWantValid(t, recPolicy(), rec2, ClaimKey("alice.example"))
	// Validate must not change the record it checks.
	before := recClone(rec)
	recPolicy().Validate(rec)
	if !Same(rec, before) {
		t.Fatal("Validate changed the record")
	}
}

func TestNewClaimRefusesBadName(t *testing.T) {
	id := recIdentity(t, 1)
	for _, name := range []string{"", "ab", "1abc", "a b", "ålice"} {
		rec, err := NewClaim(id, name, 1, recNow, time.Hour, testDifficulty)
		if !errors.Is(err, ErrBadName) || rec != nil {
			t.Errorf("NewClaim(%q) = %v, %v; want nil, ErrBadName", name, rec, err)
		}
	}
}

func TestClaimProofOfWorkChecked(t *testing.T) {
	alice := recIdentity(t, 1)
	bob := recIdentity(t, 2)
	p := recPolicy()
	free := Policy{Difficulty: 0, Now: p.Now}

	t.Run("nonce below difficulty", func(t *testing.T) {
		nonce := recBadNonce("alice", alice.PublicKey(), testDifficulty)
		rec := recSigned(t, alice, wire.KindClaim, recMarshal(t, wire.ClaimBody{Name: "alice", Nonce: nonce}), 1, recNow, recNow.Add(time.Hour))
		recWantBad(t, p, rec)
		// Everything but the work is right: without a difficulty it passes.
		recWantValid(t, free, rec, ClaimKey("alice"))
	})

	t.Run("claim made at difficulty 0 checked at 16", func(t *testing.T) {
		var rec *wire.Record
		for {
			r, err := NewClaim(alice, "alice", 1, recNow, time.Hour, 0)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := DecodeClaim(r)
			if recPoWZeros(b.Name, alice.PublicKey(), b.Nonce) < 16 { // all but 1 in 65536 tries
				rec = r
				break
			}
		}
		recWantBad(t, Policy{Difficulty: 16, Now: p.Now}, rec)
	})

	t.Run("work is bound to the key", func(t *testing.T) {
		// A nonce Alice solved, in a claim signed by Bob.
		var nonce uint64
		for {
			nonce = SolveClaimPoW("alice", alice.PublicKey(), testDifficulty)
			if recPoWZeros("alice", bob.PublicKey(), nonce) < testDifficulty {
				break
			}
		}
		rec := recSigned(t, bob, wire.KindClaim, recMarshal(t, wire.ClaimBody{Name: "alice", Nonce: nonce}), 1, recNow, recNow.Add(time.Hour))
		recWantBad(t, p, rec)
	})

	t.Run("work is bound to the name", func(t *testing.T) {
		var nonce uint64
		for {
			nonce = SolveClaimPoW("alice", alice.PublicKey(), testDifficulty)
			if recPoWZeros("alicia", alice.PublicKey(), nonce) < testDifficulty {
				break
			}
		}
		rec := recSigned(t, alice, wire.KindClaim, recMarshal(t, wire.ClaimBody{Name: "alicia", Nonce: nonce}), 1, recNow, recNow.Add(time.Hour))
		recWantBad(t, p, rec)
	})
}

func TestRecordChangedAfterSigningRefused(t *testing.T) {
	alice := recIdentity(t, 1)
	bob := recIdentity(t, 2)
	p := recPolicy()
	claim, err := NewClaim(alice, "alice", 5, recNow, time.Hour, testDifficulty)
	if err != nil {
		t.Fatal(err)
	}
	recWantValid(t, p, claim, ClaimKey("alice"))
	otherBody := recClaimBodyFor(t, alice, "alicia") // a valid body, not the signed one

	for name, change := range map[string]func(r *wire.Record){
		"seq up":          func(r *wire.Record) { r.Seq++ },
		"seq down":        func(r *wire.Record) { r.Seq-- },
		"issued":          func(r *wire.Record) { r.Issued-- },
		"expires later":   func(r *wire.Record) { r.Expires++ },
		"expires earlier": func(r *wire.Record) { r.Expires-- },
		"body":            func(r *wire.Record) { r.Body = otherBody },
		"body byte":       func(r *wire.Record) { r.Body[len(r.Body)-1] ^= 1 },
		"owner":           func(r *wire.Record) { r.Owner = bytes.Clone(bob.PublicKey()) },
		"owner byte":      func(r *wire.Record) { r.Owner[0] ^= 1 },
		"owner short":     func(r *wire.Record) { r.Owner = r.Owner[:ed25519.PublicKeySize-1] },
		"owner nil":       func(r *wire.Record) { r.Owner = nil },
		"kind":            func(r *wire.Record) { r.Kind = wire.KindPresence },
		"sig byte":        func(r *wire.Record) { r.Sig[10] ^= 0x80 },
		"sig short":       func(r *wire.Record) { r.Sig = r.Sig[:ed25519.SignatureSize-1] },
		"sig nil":         func(r *wire.Record) { r.Sig = nil },
		"sig by bob": func(r *wire.Record) {
			r.Sig = bytes.Clone(recSigned(t, bob, r.Kind, r.Body, r.Seq, recNow, recNow.Add(time.Hour)).Sig)
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := recClone(claim)
			change(r)
			recWantBad(t, p, r)
		})
	}
	t.Run("nil record", func(t *testing.T) { recWantBad(t, p, nil) })
}

func TestRecordTimesChecked(t *testing.T) {
	id := recIdentity(t, 1)
	p := recPolicy()
	body := recMarshal(t, wire.PresenceBody{Status: wire.StatusOnline})
	presence := func(issued, expires time.Time) *wire.Record {
		return recSigned(t, id, wire.KindPresence, body, 1, issued, expires)
	}
	key := PresenceKey(id.NodeID())

	t.Run("expired", func(t *testing.T) {
		recWantBad(t, p, presence(recNow.Add(-2*time.Hour), recNow.Add(-time.Hour)))
		old, err := NewClaim(id, "alice", 1, recNow.Add(-2*time.Hour), time.Hour, testDifficulty)
		if err != nil {
			t.Fatal(err)
		}
		recWantBad(t, p, old)
	})
	t.Run("expires now", func(t *testing.T) {
		recWantBad(t, p, presence(recNow.Add(-time.Minute), recNow))
	})
	t.Run("expires in a millisecond", func(t *testing.T) {
		recWantValid(t, p, presence(recNow.Add(-time.Minute), recNow.Add(time.Millisecond)), key)
	})
	t.Run("issued 5 minutes ahead", func(t *testing.T) {
		recWantValid(t, p, presence(recNow.Add(5*time.Minute), recNow.Add(10*time.Minute)), key)
	})
	t.Run("issued more than 5 minutes ahead", func(t *testing.T) {
		recWantBad(t, p, presence(recNow.Add(5*time.Minute+time.Millisecond), recNow.Add(10*time.Minute)))
		recWantBad(t, p, presence(recNow.Add(time.Hour), recNow.Add(90*time.Minute)))
		future, err := NewClaim(id, "alice", 1, recNow.Add(6*time.Minute), time.Hour, testDifficulty)
		if err != nil {
			t.Fatal(err)
		}
		recWantBad(t, p, future)
	})
	t.Run("expires before issued", func(t *testing.T) {
		recWantBad(t, p, presence(recNow.Add(4*time.Minute), recNow.Add(time.Minute)))
	})
}

func TestClaimLifetimeLimit(t *testing.T) {
	id := recIdentity(t, 1)
	p := recPolicy()
	ok, err := NewClaim(id, "alice", 1, recNow, ClaimTTL, testDifficulty)
	if err != nil {
		t.Fatal(err)
	}
	recWantValid(t, p, ok, ClaimKey("alice"))
	long, err := NewClaim(id, "alice", 1, recNow, ClaimTTL+time.Millisecond, testDifficulty)
	if err != nil {
		t.Fatal(err)
	}
	recWantBad(t, p, long)
	// Issued in the past, so that the record is still unexpired now but
	// was made to live too long.
	past, err := NewClaim(id, "alice", 1, recNow.Add(-ClaimTTL), ClaimTTL+time.Hour, testDifficulty)
	if err != nil {
		t.Fatal(err)
	}
	recWantBad(t, p, past)
}

// TestRecordLifetimeLimitNotBypassedByOverflow checks the lifetime limits
// with lifetimes so long that counting them in nanoseconds overflows an
// int64: a record that lives for centuries must not pass as short-lived.
func TestRecordLifetimeLimitNotBypassedByOverflow(t *testing.T) {
	id := recIdentity(t, 1)
	p := recPolicy()
	// 2^64 ns is 18446744073709.551616 ms: this lifetime (about 584.5
	// years) is 448384 ns modulo 2^64 ns.
	const wrapMillis = 18_446_744_073_710
	for name, tc := range map[string]struct {
		kind wire.Kind
		body []byte
	}{
		"claim":    {wire.KindClaim, recClaimBodyFor(t, id, "alice")},
		"presence": {wire.KindPresence, recMarshal(t, wire.PresenceBody{Status: wire.StatusOnline})},
		"announce": {wire.KindAnnounce, recMarshal(t, wire.AnnounceBody{Addr: "192.0.2.1:7000"})},
	} {
		t.Run(name, func(t *testing.T) {
			for _, life := range []int64{wrapMillis, 2 * wrapMillis, math.MaxInt64/2 + 1} {
				rec := &wire.Record{Kind: tc.kind, Seq: 1, Issued: recNow.UnixMilli(), Expires: recNow.UnixMilli() + life, Body: tc.body}
				if err := Sign(id, rec); err != nil {
					t.Fatal(err)
				}
				key, err := p.Validate(rec)
				if !errors.Is(err, ErrBadRecord) {
					t.Errorf("Validate(%s issued now, expiring in %d ms) = %x, %v; want ErrBadRecord (lifetime over the limit)", name, life, key, err)
				}
			}
		})
	}
}

func TestRecordBodySizeLimit(t *testing.T) {
	id := recIdentity(t, 1)
	p := recPolicy()
	// A presence body of exactly n bytes: one supernode with a long address.
	presenceBody := func(n int) []byte {
		mk := func(addrLen int) []byte {
			return recMarshal(t, wire.PresenceBody{Status: wire.StatusOnline, Supernodes: []wire.Supernode{
				{ID: make([]byte, 32), Addr: strings.Repeat("a", addrLen)},
			}})
		}
		b := mk(1000) // the address length takes a 3-byte header from 256 to 65535
		b = mk(1000 + n - len(b))
		if len(b) != n {
			t.Fatalf("made a body of %d bytes; want %d", len(b), n)
		}
		return b
	}
	recWantValid(t, p, recSigned(t, id, wire.KindPresence, presenceBody(MaxRecordBody), 1, recNow, recNow.Add(time.Minute)), PresenceKey(id.NodeID()))
	recWantBad(t, p, recSigned(t, id, wire.KindPresence, presenceBody(MaxRecordBody+1), 1, recNow, recNow.Add(time.Minute)))
	// A claim body padded with bytes.
	claim, err := NewClaim(id, "alice", 1, recNow, time.Hour, testDifficulty)
	if err != nil {
		t.Fatal(err)
	}
	big := append(bytes.Clone(claim.Body), make([]byte, MaxRecordBody+1-len(claim.Body))...)
	recWantBad(t, p, recSigned(t, id, wire.KindClaim, big, 1, recNow, recNow.Add(time.Hour)))
	recWantBad(t, p, recSigned(t, id, wire.KindClaim, make([]byte, 1<<20), 1, recNow, recNow.Add(time.Hour)))
}

func TestRecordUnknownKindRefused(t *testing.T) {
	id := recIdentity(t, 1)
	p := recPolicy()
	claimBody := recClaimBodyFor(t, id, "alice")
	presenceBody := recMarshal(t, wire.PresenceBody{Status: wire.StatusOnline})
	for _, kind := range []wire.Kind{0, 4, 9, 255} {
		for _, body := range [][]byte{claimBody, presenceBody} {
			recWantBad(t, p, recSigned(t, id, kind, body, 1, recNow, recNow.Add(time.Minute)))
		}
	}
}

func TestClaimOfUnnormalizedNameRefused(t *testing.T) {
	id := recIdentity(t, 1)
	p := recPolicy()
	for _, name := range []string{"Alice", "ALICE", " alice", "alice ", "ab", "1abc", "a b", "ålice", "", strings.Repeat("a", 33)} {
		t.Run(name, func(t *testing.T) {
			// The work is done for the name as written, so only its form is wrong.
			rec := recSigned(t, id, wire.KindClaim, recClaimBodyFor(t, id, name), 1, recNow, recNow.Add(time.Hour))
			recWantBad(t, p, rec)
		})
	}
}

func TestRecordMalformedBodyRefused(t *testing.T) {
	id := recIdentity(t, 1)
	p := recPolicy()
	claimBody := recClaimBodyFor(t, id, "alice")
	presenceBody := recMarshal(t, wire.PresenceBody{Status: wire.StatusOnline})
	announceBody := recMarshal(t, wire.AnnounceBody{Addr: "192.0.2.1:7000"})
	bodies := map[string][]byte{
		"nil":               nil,
		"empty":             {},
		"break byte":        {0xff},
		"truncated map":     {0xa2, 0x01},
		"empty map":         {0xa0},
		"text string":       recMarshal(t, "alice"),
		"array":             recMarshal(t, []int{1, 2, 3}),
		"integer":           {0x05},
		"wrong field types": recMarshal(t, map[int]any{1: []byte{1}, 2: "x"}),
		"negative status":   recMarshal(t, map[int]any{1: -1}),
		"huge status":       recMarshal(t, map[int]any{1: 1 << 20}),
		"indefinite map":    {0xbf, 0x01, 0x61, 'a', 0xff},
		"tagged":            {0xc1, 0x1a, 0, 0, 0, 1},
		"duplicate keys":    {0xa2, 0x01, 0x61, 'a', 0x01, 0x61, 'b'},
		"bad utf-8":         {0xa1, 0x01, 0x63, 'a', 0xff, 'c'},
		"deep nesting":      bytes.Repeat([]byte{0x81}, 64),
		"huge length":       {0xa1, 0x01, 0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"huge array":        {0xa1, 0x02, 0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"claim trailing":    append(bytes.Clone(claimBody), 0x00),
		"presence trailing": append(bytes.Clone(presenceBody), 0x00),
		"announce trailing": append(bytes.Clone(announceBody), 0x00),
	}
	for _, kind := range []wire.Kind{wire.KindClaim, wire.KindPresence, wire.KindAnnounce} {
		for name, body := range bodies {
			t.Run(name, func(t *testing.T) {
				recWantBad(t, p, recSigned(t, id, kind, body, 1, recNow, recNow.Add(time.Minute)))
			})
		}
	}
	// A body of another kind.
	recWantBad(t, p, recSigned(t, id, wire.KindClaim, presenceBody, 1, recNow, recNow.Add(time.Minute)))
	recWantBad(t, p, recSigned(t, id, wire.KindPresence, claimBody, 1, recNow, recNow.Add(time.Minute)))
	recWantBad(t, p, recSigned(t, id, wire.KindAnnounce, claimBody, 1, recNow, recNow.Add(time.Minute)))
}

func TestPresenceValidatesUnderOwnerKey(t *testing.T) {
	id := recIdentity(t, 1)
	p := recPolicy()
	sn := func(b byte) wire.Supernode {
		return wire.Supernode{ID: bytes.Repeat([]byte{b}, 32), Addr: "192.0.2.1:7000"}
	}
	body := wire.PresenceBody{Status: wire.StatusOnline, Supernodes: []wire.Supernode{sn(1), sn(2)}}
	rec, err := NewPresence(id, body, 3, recNow, MaxPresenceTTL)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kind != wire.KindPresence || rec.Seq != 3 || !bytes.Equal(rec.Owner, id.PublicKey()) {
		t.Fatalf("NewPresence = %+v", rec)
	}
	recWantValid(t, p, rec, PresenceKey(id.NodeID()))

	t.Run("statuses", func(t *testing.T) {
		for _, st := range []uint8{wire.StatusOnline, wire.StatusAway, wire.StatusOffline} {
			r, err := NewPresence(id, wire.PresenceBody{Status: st}, 1, recNow, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			recWantValid(t, p, r, PresenceKey(id.NodeID()))
		}
		for _, st := range []uint8{0, 4, 9, 255} {
			r, err := NewPresence(id, wire.PresenceBody{Status: st}, 1, recNow, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			recWantBad(t, p, r)
		}
	})
	t.Run("supernodes", func(t *testing.T) {
		four := wire.PresenceBody{Status: wire.StatusOnline, Supernodes: []wire.Supernode{sn(1), sn(2), sn(3), sn(4)}}
		r, err := NewPresence(id, four, 1, recNow, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		recWantValid(t, p, r, PresenceKey(id.NodeID()))
		five := four
		five.Supernodes = append(five.Supernodes, sn(5))
		r, err = NewPresence(id, five, 1, recNow, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		recWantBad(t, p, r)
	})
	t.Run("lifetime", func(t *testing.T) {
		r, err := NewPresence(id, body, 1, recNow, MaxPresenceTTL+time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		recWantBad(t, p, r)
		r, err = NewPresence(id, body, 1, recNow.Add(-time.Hour), 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		recWantBad(t, p, r)
	})
}

func TestPresenceUnderAnotherOwnerRefused(t *testing.T) {
	alice := recIdentity(t, 1)
	bob := recIdentity(t, 2)
	p := recPolicy()
	rec, err := NewPresence(alice, wire.PresenceBody{Status: wire.StatusOffline}, 9, recNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	recWantValid(t, p, rec, PresenceKey(alice.NodeID()))
	// Alice's record relabelled as Bob's: it must not be stored under Bob's key.
	forged := recClone(rec)
	forged.Owner = bytes.Clone(bob.PublicKey())
	recWantBad(t, p, forged)
	// The same for an announcement and a claim.
	ann, err := NewAnnounce(alice, wire.AnnounceBody{Addr: "192.0.2.1:7000"}, 1, recNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ann.Owner = bytes.Clone(bob.PublicKey())
	recWantBad(t, p, ann)
}

func TestDecodeRecordBodiesRoundTrip(t *testing.T) {
	id := recIdentity(t, 1)
	verifier := recIdentity(t, 2)
	presence := wire.PresenceBody{Status: wire.StatusAway, Supernodes: []wire.Supernode{
		{ID: bytes.Repeat([]byte{7}, 32), Addr: "192.0.2.1:7000", Seed: true},
		{ID: bytes.Repeat([]byte{8}, 32), Addr: "[2001:db8::1]:7001"},
	}}
	prec, err := NewPresence(id, presence, 1, recNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	gotP, err := DecodePresence(prec)
	if err != nil || !reflect.DeepEqual(gotP, presence) {
		t.Fatalf("DecodePresence = %+v, %v; want %+v", gotP, err, presence)
	}

	addr := "192.0.2.9:7777"
	announce := wire.AnnounceBody{Addr: addr, Seed: true, Leaves: 12, Capacity: 500, Endorsements: []wire.Endorsement{
		NewEndorsement(verifier, id.NodeID(), addr, recNow, time.Hour),
	}}
	arec, err := NewAnnounce(id, announce, 4, recNow, MaxAnnounceTTL)
	if err != nil {
		t.Fatal(err)
	}
	gotA, err := DecodeAnnounce(arec)
	if err != nil || !reflect.DeepEqual(gotA, announce) {
		t.Fatalf("DecodeAnnounce = %+v, %v; want %+v", gotA, err, announce)
	}
	if v, err := VerifyEndorsement(gotA.Endorsements[0], id.NodeID(), gotA.Addr, recNow); err != nil || v != verifier.NodeID() {
		t.Fatalf("the decoded endorsement does not verify: %v, %v", v, err)
	}

	crec, err := NewClaim(id, "Alice", 1, recNow, time.Hour, testDifficulty)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := DecodeClaim(crec); err != nil || c.Name != "alice" {
		t.Fatalf("DecodeClaim = %+v, %v", c, err)
	}

	// Each decoder refuses the other kinds.
	for _, err := range []error{
		func() error { _, err := DecodePresence(crec); return err }(),
		func() error { _, err := DecodePresence(arec); return err }(),
		func() error { _, err := DecodeAnnounce(prec); return err }(),
		func() error { _, err := DecodeAnnounce(crec); return err }(),
		func() error { _, err := DecodeClaim(prec); return err }(),
		func() error { _, err := DecodeClaim(arec); return err }(),
	} {
		if !errors.Is(err, ErrBadRecord) {
			t.Errorf("decoding a record of another kind: %v; want ErrBadRecord", err)
		}
	}
}

func TestAnnounceValidatesUnderOwnerKey(t *testing.T) {
	id := recIdentity(t, 1)
	p := recPolicy()
	rec, err := NewAnnounce(id, wire.AnnounceBody{Addr: "192.0.2.1:7000", Leaves: 1, Capacity: 10}, 2, recNow, MaxAnnounceTTL)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kind != wire.KindAnnounce || rec.Seq != 2 {
		t.Fatalf("NewAnnounce = %+v", rec)
	}
	recWantValid(t, p, rec, AnnounceKey(id.NodeID()))

	t.Run("addresses", func(t *testing.T) {
		for _, addr := range []string{"[2001:db8::1]:7000", "example.net:7000", ":7000"} {
			r, err := NewAnnounce(id, wire.AnnounceBody{Addr: addr}, 1, recNow, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			recWantValid(t, p, r, AnnounceKey(id.NodeID()))
		}
		for _, addr := range []string{"", "192.0.2.1", "nohost", "2001:db8::1:7000", "[2001:db8::1:7000", "a:b:c"} {
			r, err := NewAnnounce(id, wire.AnnounceBody{Addr: addr}, 1, recNow, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			recWantBad(t, p, r)
		}
	})
	t.Run("endorsements", func(t *testing.T) {
		addr := "192.0.2.1:7000"
		var es []wire.Endorsement
		for i := range 9 {
			es = append(es, NewEndorsement(recIdentity(t, byte(10+i)), id.NodeID(), addr, recNow, time.Hour))
		}
		r, err := NewAnnounce(id, wire.AnnounceBody{Addr: addr, Endorsements: es[:8]}, 1, recNow, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		recWantValid(t, p, r, AnnounceKey(id.NodeID()))
		r, err = NewAnnounce(id, wire.AnnounceBody{Addr: addr, Endorsements: es}, 1, recNow, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		recWantBad(t, p, r)
	})
	t.Run("lifetime", func(t *testing.T) {
		r, err := NewAnnounce(id, wire.AnnounceBody{Addr: "192.0.2.1:7000"}, 1, recNow, MaxAnnounceTTL+time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		recWantBad(t, p, r)
	})
}

func TestSupersedes(t *testing.T) {
	alice := recIdentity(t, 1)
	bob := recIdentity(t, 2)
	claim := func(id *identity.Identity, seq uint64, issued time.Time, ttl time.Duration) *wire.Record {
		t.Helper()
		r, err := NewClaim(id, "alice", seq, issued, ttl, testDifficulty)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	presence := func(id *identity.Identity, seq uint64, st uint8) *wire.Record {
		t.Helper()
		r, err := NewPresence(id, wire.PresenceBody{Status: st}, seq, recNow, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	old := claim(alice, 5, recNow, time.Hour)

	t.Run("higher seq by the owner", func(t *testing.T) {
		if err := Supersedes(claim(alice, 6, recNow, time.Hour), old, recNow); err != nil {
			t.Fatalf("Supersedes = %v; want nil", err)
		}
		if err := Supersedes(claim(alice, math.MaxUint64, recNow, time.Hour), old, recNow); err != nil {
			t.Fatalf("Supersedes = %v; want nil", err)
		}
		if err := Supersedes(presence(alice, 2, wire.StatusAway), presence(alice, 1, wire.StatusOnline), recNow); err != nil {
			t.Fatalf("Supersedes(presence) = %v; want nil", err)
		}
	})
	t.Run("equal seq", func(t *testing.T) {
		for _, next := range []*wire.Record{
			old,                                  // a replay
			claim(alice, 5, recNow, 2*time.Hour), // other content, same seq
			claim(alice, 5, recNow.Add(time.Minute), time.Hour),
		} {
			if err := Supersedes(next, old, recNow); !errors.Is(err, ErrStale) {
				t.Fatalf("Supersedes = %v; want ErrStale", err)
			}
		}
		if err := Supersedes(presence(alice, 1, wire.StatusOffline), presence(alice, 1, wire.StatusOnline), recNow); !errors.Is(err, ErrStale) {
			t.Fatalf("Supersedes(presence) = %v; want ErrStale", err)
		}
	})
	t.Run("lower seq", func(t *testing.T) {
		for _, seq := range []uint64{4, 0} {
			if err := Supersedes(claim(alice, seq, recNow, time.Hour), old, recNow); !errors.Is(err, ErrStale) {
				t.Fatalf("Supersedes(seq %d) = %v; want ErrStale", seq, err)
			}
		}
	})
	t.Run("claim by another key", func(t *testing.T) {
		for _, seq := range []uint64{1, 5, 6, 1000} {
			err := Supersedes(claim(bob, seq, recNow, time.Hour), old, recNow)
			if !errors.Is(err, ErrNameTaken) {
				t.Fatalf("Supersedes(bob seq %d) = %v; want ErrNameTaken", seq, err)
			}
			if errors.Is(err, ErrStale) {
				t.Fatalf("Supersedes(bob seq %d) = %v; a taken name is not a stale record", seq, err)
			}
		}
		// Until the last millisecond of the old claim.
		if err := Supersedes(claim(bob, 1, recNow, time.Hour), old, recNow.Add(time.Hour-time.Millisecond)); !errors.Is(err, ErrNameTaken) {
			t.Fatalf("Supersedes just before expiry = %v; want ErrNameTaken", err)
		}
	})
	t.Run("presence by another key", func(t *testing.T) {
		err := Supersedes(presence(bob, 9, wire.StatusOnline), presence(alice, 1, wire.StatusOnline), recNow)
		if err == nil || errors.Is(err, ErrNameTaken) {
			t.Fatalf("Supersedes(another owner's presence) = %v; want an error, not ErrNameTaken", err)
		}
	})
	t.Run("expired old is replaced by anything", func(t *testing.T) {
		lapsed := claim(alice, 5, recNow.Add(-2*time.Hour), time.Hour)
		for name, next := range map[string]*wire.Record{
			"other key":  claim(bob, 1, recNow, time.Hour),
			"equal seq":  claim(alice, 5, recNow, time.Hour),
			"lower seq":  claim(alice, 1, recNow, time.Hour),
			"itself":     lapsed,
			"other kind": presence(bob, 0, wire.StatusOnline),
		} {
			if err := Supersedes(next, lapsed, recNow); err != nil {
				t.Errorf("Supersedes(%s) of an expired record = %v; want nil", name, err)
			}
		}
		// Expiring exactly now counts as expired.
		if err := Supersedes(claim(bob, 1, recNow, time.Hour), old, recNow.Add(time.Hour)); err != nil {
			t.Errorf("Supersedes at the old record's expiry = %v; want nil", err)
		}
	})
}

func TestSameRecord(t *testing.T) {
	id := recIdentity(t, 1)
	a, err := NewClaim(id, "alice", 1, recNow, time.Hour, testDifficulty)
	if err != nil {
		t.Fatal(err)
	}
	if !Same(a, a) || !Same(a, recClone(a)) {
		t.Fatal("Same of identical records is false")
	}
	if !Same(nil, nil) {
		t.Fatal("Same(nil, nil) is false")
	}
	if Same(a, nil) || Same(nil, a) {
		t.Fatal("Same of a record and nil is true")
	}
	for name, change := range map[string]func(r *wire.Record){
		"kind":    func(r *wire.Record) { r.Kind = wire.KindPresence },
		"seq":     func(r *wire.Record) { r.Seq++ },
		"issued":  func(r *wire.Record) { r.Issued++ },
		"expires": func(r *wire.Record) { r.Expires++ },
		"owner":   func(r *wire.Record) { r.Owner[31] ^= 1 },
		"body":    func(r *wire.Record) { r.Body[0] ^= 1 },
		"longer":  func(r *wire.Record) { r.Body = append(r.Body, 0) },
		"sig":     func(r *wire.Record) { r.Sig[63] ^= 1 },
		"no sig":  func(r *wire.Record) { r.Sig = nil },
	} {
		b := recClone(a)
		change(b)
		if Same(a, b) || Same(b, a) {
			t.Errorf("Same after changing the %s is true", name)
		}
	}
}

func TestEndorsementVerifies(t *testing.T) {
	verifier := recIdentity(t, 1)
	cand := recIdentity(t, 2)
	other := recIdentity(t, 3)
	const addr = "192.0.2.1:7000"
	e := NewEndorsement(verifier, cand.NodeID(), addr, recNow, time.Hour)
	cid := cand.NodeID()
	if !bytes.Equal(e.Candidate, cid[:]) || e.Addr != addr || !bytes.Equal(e.Verifier, verifier.PublicKey()) ||
		e.Issued != recNow.UnixMilli() || e.Expires != recNow.Add(time.Hour).UnixMilli() || len(e.Sig) != ed25519.SignatureSize {
		t.Fatalf("NewEndorsement = %+v", e)
	}
	for _, now := range []time.Time{recNow, recNow.Add(-5 * time.Minute), recNow.Add(time.Hour - time.Millisecond)} {
		v, err := VerifyEndorsement(e, cand.NodeID(), addr, now)
		if err != nil || v != verifier.NodeID() {
			t.Fatalf("VerifyEndorsement at %v = %v, %v; want %v", now, v, err, verifier.NodeID())
		}
	}

	wantBad := func(t *testing.T, e wire.Endorsement, candidate identity.NodeID, addr string, now time.Time) {
		t.Helper()
		v, err := VerifyEndorsement(e, candidate, addr, now)
		if !errors.Is(err, ErrBadRecord) {
			t.Fatalf("VerifyEndorsement = %v, %v; want ErrBadRecord", v, err)
		}
		if !v.IsZero() {
			t.Fatalf("VerifyEndorsement refused but returned verifier %v", v)
		}
	}
	clone := func(e wire.Endorsement) wire.Endorsement {
		e.Candidate = bytes.Clone(e.Candidate)
		e.Verifier = bytes.Clone(e.Verifier)
		e.Sig = bytes.Clone(e.Sig)
		return e
	}
	t.Run("wrong candidate", func(t *testing.T) { wantBad(t, e, other.NodeID(), addr, recNow) })
	t.Run("wrong addr", func(t *testing.T) { wantBad(t, e, cand.NodeID(), "192.0.2.1:7001", recNow) })
	t.Run("expired", func(t *testing.T) {
		wantBad(t, e, cand.NodeID(), addr, recNow.Add(time.Hour))
		wantBad(t, e, cand.NodeID(), addr, recNow.Add(2*time.Hour))
	})
	t.Run("from the future", func(t *testing.T) {
		f := NewEndorsement(verifier, cand.NodeID(), addr, recNow.Add(5*time.Minute+time.Millisecond), time.Hour)
		wantBad(t, f, cand.NodeID(), addr, recNow)
		f = NewEndorsement(verifier, cand.NodeID(), addr, recNow.Add(5*time.Minute), time.Hour)
		if v, err := VerifyEndorsement(f, cand.NodeID(), addr, recNow); err != nil || v != verifier.NodeID() {
			t.Fatalf("VerifyEndorsement(issued 5 minutes ahead) = %v, %v; want accepted", v, err)
		}
	})
	for name, change := range map[string]func(e *wire.Endorsement){
		"sig byte":     func(e *wire.Endorsement) { e.Sig[0] ^= 1 },
		"sig short":    func(e *wire.Endorsement) { e.Sig = e.Sig[:63] },
		"sig nil":      func(e *wire.Endorsement) { e.Sig = nil },
		"expires":      func(e *wire.Endorsement) { e.Expires += 1000 },
		"issued":       func(e *wire.Endorsement) { e.Issued-- },
		"verifier":     func(e *wire.Endorsement) { e.Verifier = bytes.Clone(other.PublicKey()) },
		"verifier nil": func(e *wire.Endorsement) { e.Verifier = nil },
	} {
		t.Run("tampered "+name, func(t *testing.T) {
			f := clone(e)
			change(&f)
			wantBad(t, f, cand.NodeID(), addr, recNow)
		})
	}
	t.Run("tampered addr", func(t *testing.T) {
		f := clone(e)
		f.Addr = "198.51.100.1:7000"
		wantBad(t, f, cand.NodeID(), f.Addr, recNow)
	})
	t.Run("tampered candidate", func(t *testing.T) {
		f := clone(e)
		oid := other.NodeID()
		f.Candidate = oid[:]
		wantBad(t, f, other.NodeID(), addr, recNow)
	})
	t.Run("self-endorsement", func(t *testing.T) {
		self := NewEndorsement(cand, cand.NodeID(), addr, recNow, time.Hour)
		wantBad(t, self, cand.NodeID(), addr, recNow)
	})
}

func TestCountEndorsements(t *testing.T) {
	sn := recIdentity(t, 1)
	v1, v2, v3, v4, v5, v6 := recIdentity(t, 11), recIdentity(t, 12), recIdentity(t, 13), recIdentity(t, 14), recIdentity(t, 15), recIdentity(t, 16)
	const addr = "192.0.2.1:7000"
	untrusted := v3.NodeID()
	trusted := func(id identity.NodeID) bool { return id != untrusted }
	all := func(identity.NodeID) bool { return true }
	none := func(identity.NodeID) bool { return false }
	endorse := func(v *identity.Identity) wire.Endorsement {
		return NewEndorsement(v, sn.NodeID(), addr, recNow, time.Hour)
	}
	tampered := endorse(v6)
	tampered.Sig[5] ^= 1

	body := wire.AnnounceBody{Addr: addr, Endorsements: []wire.Endorsement{
		endorse(v1),
		NewEndorsement(v1, sn.NodeID(), addr, recNow.Add(-time.Minute), time.Hour), // v1 again, another signature
		endorse(v1),
		endorse(v2),
		endorse(v3), // untrusted
		NewEndorsement(v4, sn.NodeID(), "192.0.2.1:7001", recNow, time.Hour),       // another address
		NewEndorsement(v5, sn.NodeID(), addr, recNow.Add(-2*time.Hour), time.Hour), // expired
		tampered,
		NewEndorsement(sn, sn.NodeID(), addr, recNow, time.Hour), // self
	}}
	if got := CountEndorsements(body, sn.NodeID(), recNow, trusted); got != 2 {
		t.Errorf("CountEndorsements = %d; want 2 (v1 and v2)", got)
	}
	if got := CountEndorsements(body, sn.NodeID(), recNow, all); got != 3 {
		t.Errorf("CountEndorsements(all trusted) = %d; want 3 (v1, v2, v3)", got)
	}
	if got := CountEndorsements(body, sn.NodeID(), recNow, none); got != 0 {
		t.Errorf("CountEndorsements(none trusted) = %d; want 0", got)
	}
	// The endorsements are of sn: they count for nobody else.
	if got := CountEndorsements(body, v1.NodeID(), recNow, all); got != 0 {
		t.Errorf("CountEndorsements(another candidate) = %d; want 0", got)
	}
	// Later, all have expired.
	if got := CountEndorsements(body, sn.NodeID(), recNow.Add(time.Hour), all); got != 0 {
		t.Errorf("CountEndorsements(after expiry) = %d; want 0", got)
	}
	// The body's address is the one endorsements must name.
	moved := body
	moved.Addr = "192.0.2.1:7001"
	if got := CountEndorsements(moved, sn.NodeID(), recNow, all); got != 1 {
		t.Errorf("CountEndorsements(addr :7001) = %d; want 1 (v4)", got)
	}
	if got := CountEndorsements(wire.AnnounceBody{Addr: addr}, sn.NodeID(), recNow, all); got != 0 {
		t.Errorf("CountEndorsements(no endorsements) = %d; want 0", got)
	}
	// An invalid endorsement by a verifier does not stop a valid one by
	// the same verifier from counting.
	bad := endorse(v2)
	bad.Sig[0] ^= 1
	mixed := wire.AnnounceBody{Addr: addr, Endorsements: []wire.Endorsement{bad, endorse(v2)}}
	if got := CountEndorsements(mixed, sn.NodeID(), recNow, all); got != 1 {
		t.Errorf("CountEndorsements(invalid then valid by v2) = %d; want 1", got)
	}
}

// FuzzValidateRecord feeds arbitrary bytes, decoded as a record, through
// Validate: it must never panic, refuse with ErrBadRecord, and accept only
// under the key that the record's kind and content determine.
func FuzzValidateRecord(f *testing.F) {
	id, err := identity.FromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	if err != nil {
		f.Fatal(err)
	}
	claim, err := NewClaim(id, "alice", 1, recNow, time.Hour, testDifficulty)
	if err != nil {
		f.Fatal(err)
	}
	presence, err := NewPresence(id, wire.PresenceBody{Status: wire.StatusOnline, Supernodes: []wire.Supernode{
		{ID: bytes.Repeat([]byte{2}, 32), Addr: "192.0.2.1:7000"},
	}}, 2, recNow, time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	announce, err := NewAnnounce(id, wire.AnnounceBody{Addr: "192.0.2.1:7000", Capacity: 10}, 3, recNow, time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range []*wire.Record{claim, presence, announce} {
		b, err := wire.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xa0})

	p := Policy{Difficulty: testDifficulty, Now: func() time.Time { return recNow }}
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec wire.Record
		if err := wire.Unmarshal(data, &rec); err != nil {
			return
		}
		before := recClone(&rec)
		key, err := p.Validate(&rec)
		if !Same(&rec, before) {
			t.Fatal("Validate changed the record")
		}
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("Validate = %v; want an error wrapping ErrBadRecord", err)
			}
			if key != ([32]byte{}) {
				t.Fatalf("Validate refused the record but returned key %x", key)
			}
			return
		}
		owner := identity.NodeIDOf(rec.Owner)
		var want [32]byte
		switch rec.Kind {
		case wire.KindClaim:
			b, err := DecodeClaim(&rec)
			if err != nil {
				t.Fatalf("accepted claim does not decode: %v", err)
			}
			if n, err := NormalizeName(b.Name); err != nil || n != b.Name {
				t.Fatalf("accepted claim of the malformed name %q", b.Name)
			}
			want = ClaimKey(b.Name)
		case wire.KindPresence:
			want = PresenceKey(owner)
		case wire.KindAnnounce:
			want = AnnounceKey(owner)
		default:
			t.Fatalf("accepted a record of kind %d", rec.Kind)
		}
		if key != want {
			t.Fatalf("Validate key = %x; want %x", key, want)
		}
		if rec.Expires <= recNow.UnixMilli() || rec.Issued > recNow.Add(5*time.Minute).UnixMilli() || len(rec.Body) > MaxRecordBody {
			t.Fatalf("accepted a record out of its time or size bounds: %+v", rec)
		}
	})
}

const testDifficulty = testutil.ClaimDifficulty

var mustIdentity = testutil.Identity

// TestDownNotice: a notice verifies for its node and signer, and not once
// altered, expired or too long-lived.
func TestDownNotice(t *testing.T) {
	signer, node := mustIdentity(t), mustIdentity(t)
	n := NewDownNotice(signer, node.NodeID(), 42, recNow, 10*time.Minute)
	gotNode, gotSigner, err := VerifyDownNotice(n, recNow)
	if err != nil || gotNode != node.NodeID() || gotSigner != signer.NodeID() {
		t.Fatalf("VerifyDownNotice = %s, %s, %v", gotNode.Short(), gotSigner.Short(), err)
	}
	altered := n
	altered.Seq++
	if _, _, err := VerifyDownNotice(altered, recNow); !errors.Is(err, ErrBadRecord) {
		t.Errorf("a notice with another sequence number: %v", err)
	}
	if _, _, err := VerifyDownNotice(n, recNow.Add(11*time.Minute)); !errors.Is(err, ErrBadRecord) {
		t.Errorf("an expired notice: %v", err)
	}
	long := NewDownNotice(signer, node.NodeID(), 42, recNow, MaxAnnounceTTL+time.Minute)
	if _, _, err := VerifyDownNotice(long, recNow); !errors.Is(err, ErrBadRecord) {
		t.Errorf("a notice living longer than an announcement: %v", err)
	}
	short := n
	short.Sig = short.Sig[:10]
	if _, _, err := VerifyDownNotice(short, recNow); !errors.Is(err, ErrBadRecord) {
		t.Errorf("a malformed notice: %v", err)
	}
}
