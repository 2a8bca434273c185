package envelope

import (
	"errors"
	"testing"
	"time"
)

var sentinels = []error{ErrMalformed, ErrDecrypt, ErrSignature, ErrNotForMe, ErrExpired, ErrFuture, ErrBadKey}

func checkOpened(t *testing.T, data []byte) {
	t.Helper()
	b, c := ident(t, 2), ident(t, 3)
	l, err := Open(b, data, t0, Policy{})
	if err != nil {
		known := false
		for _, s := range sentinels {
			known = known || errors.Is(err, s)
		}
		if !known {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		return
	}
	if err := verifyLetter(l, b.NodeID()); err != nil {
		t.Fatalf("opened a letter that does not verify: %v", err)
	}
	if l.Time.Before(t0.Add(-DefaultMaxAge)) || l.Time.After(t0.Add(DefaultSkew)) {
		t.Fatalf("opened a letter dated %v", l.Time)
	}
	if _, err := Open(c, data, t0, Policy{}); err == nil {
		t.Fatal("a third party opened the same envelope")
	}
}

// FuzzOpen feeds arbitrary envelopes to Open: it must never panic, every
// error must wrap a sentinel, and any letter it opens must verify.
func FuzzOpen(f *testing.F) {
	a, b := ident(f, 1), ident(f, 2)
	for i, n := range []int{0, 1, 60, 61, 300} {
		data, _, err := Seal(a, b.PublicKey(), uint8(i), make([]byte, n), t0.Add(-time.Duration(i)*time.Hour), rnd(uint64(i)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte{0xa4, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) { checkOpened(t, data) })
}

// FuzzInner gets past the encryption: it seals arbitrary plaintext to B,
// so the letter parser and the checks after it are fuzzed too.
func FuzzInner(f *testing.F) {
	a, b := ident(f, 1), ident(f, 2)
	bID := b.NodeID()
	for i, n := range []int{0, 5, 100} {
		inner, err := sign(a, body{From: a.PublicKey(), To: bID[:], ID: make([]byte, 16), Time: t0.UnixMilli(), Kind: uint8(i), Payload: make([]byte, n)})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(inner)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, inner []byte) {
		data, err := encrypt(b.PublicKey(), inner, rnd(1))
		if err != nil {
			t.Fatal(err)
		}
		checkOpened(t, data)
	})
}
