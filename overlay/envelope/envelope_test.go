package envelope

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"io"
	"math"
	mrand "math/rand/v2"
	"testing"
	"time"

	"filippo.io/edwards25519"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/wire"
)

// t0 is a fixed, millisecond-aligned time for tests.
var t0 = time.UnixMilli(1_760_000_000_123)

// ident returns the identity whose seed is 32 copies of b.
func ident(tb testing.TB, b byte) *identity.Identity {
	tb.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// rnd returns a deterministic random source.
func rnd(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return mrand.NewChaCha8(s)
}

func mustSeal(tb testing.TB, from *identity.Identity, to ed25519.PublicKey, kind uint8, payload []byte, now time.Time) ([]byte, [16]byte) {
	tb.Helper()
	data, id, err := Seal(from, to, kind, payload, now, nil)
	if err != nil {
		tb.Fatalf("Seal: %v", err)
	}
	return data, id
}

// reseal encrypts an already signed inner letter to, as a recipient or a
// supernode that wants to pass it on would. Test-only helper.
func reseal(tb testing.TB, inner []byte, to ed25519.PublicKey) []byte {
	tb.Helper()
	data, err := encrypt(to, inner, nil)
	if err != nil {
		tb.Fatalf("encrypt: %v", err)
	}
	return data
}

func TestRoundTrip(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	sizes := []int{0, 1, 55, 56, 63, 64, 100, 1024, 4096, MaxPayload - 1, MaxPayload}
	seen := map[[16]byte]bool{}
	for i, n := range sizes {
		payload := make([]byte, n)
		for j := range payload {
			payload[j] = byte(j*7 + i)
		}
		kind := uint8(i * 23)
		now := t0.Add(time.Duration(i) * time.Second)
		data, id, err := Seal(a, b.PublicKey(), kind, payload, now, nil)
		if err != nil {
			t.Fatalf("size %d: Seal: %v", n, err)
		}
		if len(data) > MaxSealed {
			t.Errorf("size %d: sealed is %d bytes, over MaxSealed %d", n, len(data), MaxSealed)
		}
		if seen[id] {
			t.Errorf("size %d: ID %x reused", n, id)
		}
		seen[id] = true
		l, err := Open(b, data, now, Policy{})
		if err != nil {
			t.Fatalf("size %d: Open: %v", n, err)
		}
		if !bytes.Equal(l.Payload, payload) {
			t.Errorf("size %d: payload differs", n)
		}
		if l.Payload == nil {
			t.Errorf("size %d: nil payload", n)
		}
		if l.Kind != kind {
			t.Errorf("size %d: kind %d, want %d", n, l.Kind, kind)
		}
		if l.ID != id {
			t.Errorf("size %d: ID %x, Seal said %x", n, l.ID, id)
		}
		if !l.From.Equal(a.PublicKey()) || l.FromID != a.NodeID() {
			t.Errorf("size %d: from %x / %s, want %x / %s", n, l.From, l.FromID.Short(), a.PublicKey(), a.NodeID().Short())
		}
		if !l.Time.Equal(now) {
			t.Errorf("size %d: time %v, want %v", n, l.Time, now)
		}
	}
}

func TestSealTwiceDiffers(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	d1, id1 := mustSeal(t, a, b.PublicKey(), 5, []byte("hello"), t0)
	d2, id2 := mustSeal(t, a, b.PublicKey(), 5, []byte("hello"), t0)
	if id1 == id2 {
		t.Error("two seals gave the same ID")
	}
	if bytes.Equal(d1, d2) {
		t.Error("two seals gave the same bytes")
	}
	var s1, s2 sealed
	if wire.Unmarshal(d1, &s1) != nil || wire.Unmarshal(d2, &s2) != nil {
		t.Fatal("sealed envelopes do not decode")
	}
	if bytes.Equal(s1.Eph, s2.Eph) || bytes.Equal(s1.Nonce, s2.Nonce) {
		t.Error("ephemeral key or nonce reused")
	}
}

func TestDeterministicWithRand(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	d1, id1, err1 := Seal(a, b.PublicKey(), 1, []byte("x"), t0, rnd(9))
	d2, id2, err2 := Seal(a, b.PublicKey(), 1, []byte("x"), t0, rnd(9))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if id1 != id2 || !bytes.Equal(d1, d2) {
		t.Error("the same rand did not give the same envelope")
	}
	if _, _, err := Seal(a, b.PublicKey(), 1, nil, t0, bytes.NewReader(make([]byte, 20))); err == nil {
		t.Error("Seal with a short rand succeeded")
	}
}

func TestPaddingHidesSize(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	sizeOf := func(n int) int {
		d, _ := mustSeal(t, a, b.PublicKey(), 1, make([]byte, n), t0)
		return len(d)
	}
	// Payloads within one 64-byte block of plaintext seal to the same size.
	base := sizeOf(200)
	same := 0
	for n := 170; n <= 230; n++ {
		if sizeOf(n) == base {
			same++
		}
	}
	if same < 32 {
		t.Errorf("only %d of 61 payload sizes around 200 sealed to %d bytes", same, base)
	}
	var s sealed
	d, _ := mustSeal(t, a, b.PublicKey(), 1, make([]byte, 333), t0)
	if err := wire.Unmarshal(d, &s); err != nil {
		t.Fatal(err)
	}
	if (len(s.Box)-16)%padBlock != 0 {
		t.Errorf("plaintext is %d bytes, not a multiple of %d", len(s.Box)-16, padBlock)
	}
}

func TestMaxSizes(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	_, _, err := Seal(a, b.PublicKey(), 1, make([]byte, MaxPayload+1), t0, nil)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxPayload+1: %v, want ErrTooLarge", err)
	}
	// An envelope must fit in a frame with room for the message carrying it.
	if MaxSealed > wire.MaxFrame/4 {
		t.Errorf("MaxSealed %d leaves too little headroom in a %d-byte frame", MaxSealed, wire.MaxFrame)
	}
	// Well-formed but oversized: refused before any decryption is tried.
	huge := mustMarshal(t, &sealed{Version: Version, Eph: make([]byte, 32), Nonce: make([]byte, 24), Box: make([]byte, MaxSealed)})
	_, err = Open(b, huge, t0, Policy{})
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized input: %v, want ErrMalformed", err)
	}
}

func TestThirdPartyCannotOpen(t *testing.T) {
	a, b, c := ident(t, 1), ident(t, 2), ident(t, 3)
	data, _ := mustSeal(t, a, b.PublicKey(), 1, []byte("for B only"), t0)
	for _, who := range []*identity.Identity{a, c} {
		if _, err := Open(who, data, t0, Policy{}); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s opened B's letter: %v, want ErrDecrypt", who.NodeID().Short(), err)
		}
	}
}

func TestEveryByteFlipRefused(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	data, _ := mustSeal(t, a, b.PublicKey(), 3, []byte("hi"), t0)
	if _, err := Open(b, data, t0, Policy{}); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		for _, mask := range []byte{0x01, 0x02, 0x10, 0x80, 0xff} {
			m := bytes.Clone(data)
			m[i] ^= mask
			if l, err := Open(b, m, t0, Policy{}); err == nil {
				t.Fatalf("byte %d ^ %#x: opened as %+v", i, mask, l)
			}
		}
	}
	for n := range len(data) {
		if _, err := Open(b, data[:n], t0, Policy{}); err == nil {
			t.Fatalf("truncated to %d bytes: opened", n)
		}
	}
	if _, err := Open(b, append(bytes.Clone(data), 0), t0, Policy{}); err == nil {
		t.Fatal("trailing byte: opened")
	}
}

// innerOf returns the signed letter inside an envelope for b.
func innerOf(tb testing.TB, b *identity.Identity, data []byte) []byte {
	tb.Helper()
	inner, err := decrypt(b, data)
	if err != nil {
		tb.Fatal(err)
	}
	return inner
}

func TestSupernodeForgeryRefused(t *testing.T) {
	a, b, sn := ident(t, 1), ident(t, 2), ident(t, 9)
	bID := b.NodeID()
	good := body{From: a.PublicKey(), To: bID[:], ID: make([]byte, 16), Time: t0.UnixMilli(), Kind: 1, Payload: []byte("pay 10")}

	// The supernode signs a letter with its own key but names A as sender.
	forged, err := sign(sn, good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(b, reseal(t, forged, b.PublicKey()), t0, Policy{}); !errors.Is(err, ErrSignature) {
		t.Errorf("letter signed by the supernode as A: %v, want ErrSignature", err)
	}

	// A signs; the supernode alters a field and keeps A's signature.
	inner, err := sign(a, good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(b, reseal(t, inner, b.PublicKey()), t0, Policy{}); err != nil {
		t.Fatalf("A's untouched letter: %v", err)
	}
	snPub := sn.PublicKey()
	alter := map[string]func(*body){
		"payload": func(x *body) { x.Payload = []byte("pay 99") },
		"kind":    func(x *body) { x.Kind = 2 },
		"time":    func(x *body) { x.Time++ },
		"id":      func(x *body) { x.ID = bytes.Repeat([]byte{1}, 16) },
		"from":    func(x *body) { x.From = snPub },
	}
	for name, f := range alter {
		var sl signed
		if err := wire.Unmarshal(inner, &sl); err != nil {
			t.Fatal(err)
		}
		var x body
		if err := wire.Unmarshal(sl.Body, &x); err != nil {
			t.Fatal(err)
		}
		f(&x)
		if sl.Body, err = wire.Marshal(&x); err != nil {
			t.Fatal(err)
		}
		tampered, err := wire.Marshal(&sl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(b, reseal(t, tampered, b.PublicKey()), t0, Policy{}); !errors.Is(err, ErrSignature) {
			t.Errorf("altered %s: %v, want ErrSignature", name, err)
		}
	}

	// Nor can it swap in a signature from another letter by A.
	other, err := sign(a, body{From: a.PublicKey(), To: bID[:], ID: make([]byte, 16), Time: t0.UnixMilli(), Kind: 1, Payload: []byte("pay 99")})
	if err != nil {
		t.Fatal(err)
	}
	var sl, so signed
	if wire.Unmarshal(inner, &sl) != nil || wire.Unmarshal(other, &so) != nil {
		t.Fatal("decode")
	}
	sl.Body = so.Body // A's other body with the first letter's signature
	mixed, _ := wire.Marshal(&sl)
	if _, err := Open(b, reseal(t, mixed, b.PublicKey()), t0, Policy{}); !errors.Is(err, ErrSignature) {
		t.Errorf("body with another letter's signature: %v, want ErrSignature", err)
	}
}

func TestSmallOrderSenderRefused(t *testing.T) {
	b := ident(t, 2)
	bID := b.NodeID()
	// With the identity point as key, R = identity and S = 0 verify for
	// every message under cofactorless verification.
	idPoint := edwards25519.NewIdentityPoint().Bytes()
	bb, err := wire.Marshal(&body{From: idPoint, To: bID[:], ID: make([]byte, 16), Time: t0.UnixMilli(), Payload: []byte("forged")})
	if err != nil {
		t.Fatal(err)
	}
	sig := append(bytes.Clone(idPoint), make([]byte, 32)...)
	if !ed25519.Verify(idPoint, signingMessage(bb), sig) {
		t.Log("note: crypto/ed25519 now refuses the identity key itself")
	}
	inner, _ := wire.Marshal(&signed{Body: bb, Sig: sig})
	if _, err := Open(b, reseal(t, inner, b.PublicKey()), t0, Policy{}); !errors.Is(err, ErrSignature) {
		t.Errorf("letter from the identity point: %v, want ErrSignature", err)
	}
}

func TestResealToThirdPartyRefused(t *testing.T) {
	a, b, c := ident(t, 1), ident(t, 2), ident(t, 3)
	data, _ := mustSeal(t, a, b.PublicKey(), 7, []byte("I love you, B"), t0)
	if _, err := Open(b, data, t0, Policy{}); err != nil {
		t.Fatal(err)
	}
	// B takes A's signed letter and seals it, unchanged, to C.
	forwarded := reseal(t, innerOf(t, b, data), c.PublicKey())
	l, err := Open(c, forwarded, t0, Policy{})
	if !errors.Is(err, ErrNotForMe) {
		t.Fatalf("C opened A's letter to B, re-sealed by B: %+v, %v; want ErrNotForMe", l, err)
	}
}

func TestTimeBoundaries(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	data, _ := mustSeal(t, a, b.PublicKey(), 1, []byte("t"), t0)
	ms := time.Millisecond
	cases := []struct {
		name string
		now  time.Time
		p    Policy
		want error
	}{
		{"now", t0, Policy{}, nil},
		{"at default max age", t0.Add(DefaultMaxAge), Policy{}, nil},
		{"past default max age", t0.Add(DefaultMaxAge + ms), Policy{}, ErrExpired},
		{"at default skew", t0.Add(-DefaultSkew), Policy{}, nil},
		{"past default skew", t0.Add(-DefaultSkew - ms), Policy{}, ErrFuture},
		{"at custom max age", t0.Add(time.Hour), Policy{MaxAge: time.Hour}, nil},
		{"past custom max age", t0.Add(time.Hour + ms), Policy{MaxAge: time.Hour}, ErrExpired},
		{"at custom skew", t0.Add(-time.Second), Policy{Skew: time.Second}, nil},
		{"past custom skew", t0.Add(-time.Second - ms), Policy{Skew: time.Second}, ErrFuture},
		{"a year on", t0.AddDate(1, 0, 0), Policy{}, ErrExpired},
		{"a year before", t0.AddDate(-1, 0, 0), Policy{}, ErrFuture},
	}
	for _, c := range cases {
		_, err := Open(b, data, c.now, c.p)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if DefaultMaxAge != 30*24*time.Hour+time.Hour || DefaultSkew != 5*time.Minute {
		t.Errorf("defaults are %v / %v", DefaultMaxAge, DefaultSkew)
	}
}

func TestAbsurdTimesRefused(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	bID := b.NodeID()
	for _, ts := range []int64{math.MaxInt64, math.MinInt64, math.MaxInt64 / 2, math.MinInt64 / 2, -1, 0} {
		inner, err := sign(a, body{From: a.PublicKey(), To: bID[:], ID: make([]byte, 16), Time: ts})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(b, reseal(t, inner, b.PublicKey()), t0, Policy{}); !errors.Is(err, ErrExpired) && !errors.Is(err, ErrFuture) {
			t.Errorf("time %d: %v, want ErrExpired or ErrFuture", ts, err)
		}
	}
}

func TestSubMillisecondTime(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	now := t0.Add(789 * time.Microsecond)
	data, _ := mustSeal(t, a, b.PublicKey(), 1, nil, now)
	l, err := Open(b, data, now, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Time.Equal(t0) {
		t.Errorf("time %v, want %v (truncated to ms)", l.Time, t0)
	}
}

func TestMalformedInner(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	bID := b.NodeID()
	bad := map[string][]byte{
		"empty":      {},
		"not cbor":   []byte("hello"),
		"wrong type": mustMarshal(t, []int{1, 2}),
		"body junk":  mustMarshal(t, &signed{Body: []byte{0xff}, Sig: make([]byte, 64)}),
		"short from": mustMarshal(t, &signed{Body: mustMarshal(t, &body{From: make([]byte, 31), To: bID[:], ID: make([]byte, 16)}), Sig: make([]byte, 64)}),
		"short to":   mustMarshal(t, &signed{Body: mustMarshal(t, &body{From: a.PublicKey(), To: bID[:31], ID: make([]byte, 16)}), Sig: make([]byte, 64)}),
		"short id":   mustMarshal(t, &signed{Body: mustMarshal(t, &body{From: a.PublicKey(), To: bID[:], ID: make([]byte, 15)}), Sig: make([]byte, 64)}),
		"huge payload": mustMarshal(t, &signed{Body: mustMarshal(t, &body{From: a.PublicKey(), To: bID[:], ID: make([]byte, 16),
			Payload: make([]byte, MaxPayload+1)}), Sig: make([]byte, 64)}),
	}
	for name, inner := range bad {
		data, err := encrypt(b.PublicKey(), inner, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := Open(b, data, t0, Policy{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	shortSig := mustMarshal(t, &signed{Body: mustMarshal(t, &body{From: a.PublicKey(), To: bID[:], ID: make([]byte, 16)}), Sig: make([]byte, 63)})
	if _, err := Open(b, reseal(t, shortSig, b.PublicKey()), t0, Policy{}); !errors.Is(err, ErrSignature) {
		t.Errorf("63-byte signature: %v, want ErrSignature", err)
	}
}

func TestMalformedOuter(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	data, _ := mustSeal(t, a, b.PublicKey(), 1, []byte("x"), t0)
	var good sealed
	if err := wire.Unmarshal(data, &good); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(*sealed)) []byte {
		s := good
		f(&s)
		return mustMarshal(t, &s)
	}
	cases := map[string]struct {
		data []byte
		want error
	}{
		"nil":             {nil, ErrMalformed},
		"garbage":         {[]byte{0x01, 0x02, 0x03}, ErrMalformed},
		"array":           {mustMarshal(t, []any{1, good.Eph, good.Nonce, good.Box}), ErrMalformed},
		"version 0":       {edit(func(s *sealed) { s.Version = 0 }), ErrMalformed},
		"version 2":       {edit(func(s *sealed) { s.Version = 2 }), ErrMalformed},
		"short eph":       {edit(func(s *sealed) { s.Eph = s.Eph[:31] }), ErrMalformed},
		"short nonce":     {edit(func(s *sealed) { s.Nonce = s.Nonce[:12] }), ErrMalformed},
		"short box":       {edit(func(s *sealed) { s.Box = s.Box[:40] }), ErrMalformed},
		"zero eph":        {edit(func(s *sealed) { s.Eph = make([]byte, 32) }), ErrDecrypt},
		"other eph":       {edit(func(s *sealed) { s.Eph = b.PublicKey() }), ErrDecrypt},
		"box cut a block": {edit(func(s *sealed) { s.Box = s.Box[:len(s.Box)-64] }), ErrDecrypt},
	}
	for name, c := range cases {
		if _, err := Open(b, c.data, t0, Policy{}); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := Open(nil, data, t0, Policy{}); err == nil {
		t.Error("Open with a nil identity succeeded")
	}
	if _, _, err := Seal(nil, b.PublicKey(), 1, nil, t0, nil); err == nil {
		t.Error("Seal with a nil identity succeeded")
	}
}

func TestUnpad(t *testing.T) {
	for _, n := range []int{0, 1, 59, 60, 61, 124, 125, 1000} {
		in := bytes.Repeat([]byte{0xab}, n)
		p := pad(in)
		if len(p)%padBlock != 0 || len(p)-4-n >= padBlock || len(p) < 4+n {
			t.Errorf("pad(%d bytes) is %d bytes", n, len(p))
		}
		got, err := unpad(p)
		if err != nil || !bytes.Equal(got, in) {
			t.Errorf("unpad(pad(%d bytes)) = %d bytes, %v", n, len(got), err)
		}
		if len(p) > 4+n {
			q := bytes.Clone(p)
			q[len(q)-1] = 1
			if _, err := unpad(q); !errors.Is(err, ErrMalformed) {
				t.Errorf("%d bytes, non-zero padding: %v", n, err)
			}
		}
	}
	bad := [][]byte{nil, make([]byte, 63), make([]byte, 65)}
	big := make([]byte, 128)
	big[0] = 0xff // length far beyond the buffer
	bad = append(bad, big)
	short := make([]byte, 128) // length 0 with 124 bytes of padding: too much padding
	bad = append(bad, short)
	for _, p := range bad {
		if _, err := unpad(p); !errors.Is(err, ErrMalformed) {
			t.Errorf("unpad(%d bytes %x…): %v, want ErrMalformed", len(p), p[:min(len(p), 4)], err)
		}
	}
}

func mustMarshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := wire.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestLibsodiumVector checks the conversion against libsodium's
// test/default/ed25519_convert.{c,exp}.
func TestLibsodiumVector(t *testing.T) {
	id, err := identity.FromSeed(unhex(t, "421151a459faeade3d247115f94aedae42318124095afabe4d1451a559faedee"))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ToCurve25519Public(id.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if want := "f1814f0e8ff1043d8a44d25babff3cedcae6c22c3edaa48f857ae70de2baae50"; hex.EncodeToString(pk) != want {
		t.Errorf("curve25519 pk %x, libsodium says %s", pk, want)
	}
	sk, err := curvePrivate(id)
	if err != nil {
		t.Fatal(err)
	}
	if want := "8052030376d47112be7f73ed7a019293dd12ad910b654455798b4667d73de166"; hex.EncodeToString(sk.Bytes()) != want {
		t.Errorf("curve25519 sk %x, libsodium says %s", sk.Bytes(), want)
	}
	if !bytes.Equal(sk.PublicKey().Bytes(), pk) {
		t.Error("X25519 public key of the converted private key is not the converted public key")
	}
}

func TestConversionAgrees(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	for range 50 {
		seedA, seedB := make([]byte, 32), make([]byte, 32)
		for i := range seedA {
			seedA[i], seedB[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		a, _ := identity.FromSeed(seedA)
		b, _ := identity.FromSeed(seedB)
		ax, err1 := ToCurve25519Public(a.PublicKey())
		bx, err2 := ToCurve25519Public(b.PublicKey())
		aPriv, err3 := curvePrivate(a)
		bPriv, err4 := curvePrivate(b)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			t.Fatal(err)
		}
		if k := aPriv.Bytes(); k[0]&7 != 0 || k[31]&0xc0 != 0x40 {
			t.Fatalf("private key %x is not clamped", k)
		}
		if !bytes.Equal(aPriv.PublicKey().Bytes(), ax) || !bytes.Equal(bPriv.PublicKey().Bytes(), bx) {
			t.Fatal("converted public key does not match converted private key")
		}
		axPub, _ := ecdh.X25519().NewPublicKey(ax)
		bxPub, _ := ecdh.X25519().NewPublicKey(bx)
		s1, err1 := aPriv.ECDH(bxPub)
		s2, err2 := bPriv.ECDH(axPub)
		if err1 != nil || err2 != nil || !bytes.Equal(s1, s2) {
			t.Fatalf("X25519(a, B) = %x, X25519(b, A) = %x (%v, %v)", s1, s2, err1, err2)
		}
	}
}

// torsion returns points of order 2, 4 and 8 and a mixed-order point,
// derived from whatever points the curve has, not from a table.
func torsion(t *testing.T) (order2, order4, order8 *edwards25519.Point) {
	t.Helper()
	for y := byte(2); y < 255; y++ {
		enc := make([]byte, 32)
		enc[0] = y
		r, err := new(edwards25519.Point).SetBytes(enc)
		if err != nil {
			continue
		}
		// [ℓ]r is r's torsion component.
		tp := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(lMinusOne, r, edwards25519.NewScalar())
		tp.Add(tp, r)
		t2 := new(edwards25519.Point).Double(tp)
		t4 := new(edwards25519.Point).Double(t2)
		if t4.Equal(identityPoint) == 1 || new(edwards25519.Point).Double(t4).Equal(identityPoint) != 1 {
			continue // not of order exactly 8
		}
		return t4, t2, tp
	}
	t.Fatal("no point of order 8 found")
	return nil, nil, nil
}

func TestBadPublicKeys(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	o2, o4, o8 := torsion(t)
	bp, err := new(edwards25519.Point).SetBytes(b.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	notOnCurve := func() []byte {
		for y := byte(2); ; y++ {
			enc := make([]byte, 32)
			enc[0] = y
			if _, err := new(edwards25519.Point).SetBytes(enc); err != nil {
				return enc
			}
		}
	}()
	keys := map[string][]byte{
		"nil":          nil,
		"31 bytes":     b.PublicKey()[:31],
		"33 bytes":     append(bytes.Clone(b.PublicKey()), 0),
		"not on curve": notOnCurve,
		"identity":     edwards25519.NewIdentityPoint().Bytes(),
		"order 2":      o2.Bytes(),
		"order 4":      o4.Bytes(),
		"order 8":      o8.Bytes(),
		"all zero":     make([]byte, 32), // y = 0: a point of order 4
		"mixed order":  new(edwards25519.Point).Add(bp, o8).Bytes(),
	}
	for name, k := range keys {
		if _, err := ToCurve25519Public(k); !errors.Is(err, ErrBadKey) {
			t.Errorf("ToCurve25519Public(%s): %v, want ErrBadKey", name, err)
		}
		if _, _, err := Seal(a, k, 1, []byte("x"), t0, nil); !errors.Is(err, ErrBadKey) {
			t.Errorf("Seal to %s: %v, want ErrBadKey", name, err)
		}
	}
	if _, err := ToCurve25519Public(b.PublicKey()); err != nil {
		t.Errorf("a real key refused: %v", err)
	}
}

func TestLetterVerifies(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	data, _ := mustSeal(t, a, b.PublicKey(), 1, []byte("x"), t0)
	l, err := Open(b, data, t0, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyLetter(l, b.NodeID()); err != nil {
		t.Fatal(err)
	}
}

// verifyLetter checks, independently of parse, that an opened letter is
// what its sender signed and is addressed to me.
func verifyLetter(l *Letter, me identity.NodeID) error {
	if !ed25519.Verify(l.From, signingMessage(l.body), l.sig) {
		return errors.New("signature does not verify")
	}
	var x body
	if err := wire.Unmarshal(l.body, &x); err != nil {
		return err
	}
	switch {
	case !bytes.Equal(x.From, l.From) || l.FromID != identity.NodeIDOf(l.From):
		return errors.New("sender differs from the signed body")
	case !bytes.Equal(x.To, me[:]) || l.to != me:
		return errors.New("not addressed to me")
	case !bytes.Equal(x.ID, l.ID[:]) || x.Kind != l.Kind || !bytes.Equal(x.Payload, l.Payload) || x.Time != l.Time.UnixMilli():
		return errors.New("letter differs from the signed body")
	}
	return nil
}
