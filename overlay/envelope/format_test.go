package envelope

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parleynet/parley/overlay/wire"
)

// TestFormatMatchesSpec opens an envelope by hand, step by step as the
// package comment specifies, without using the package's own decryption.
func TestFormatMatchesSpec(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	payload := []byte("spec check")
	data, id, err := Seal(a, b.PublicKey(), 42, payload, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Version uint8  `cbor:"1,keyasint"`
		Eph     []byte `cbor:"2,keyasint"`
		Nonce   []byte `cbor:"3,keyasint"`
		Box     []byte `cbor:"4,keyasint"`
	}
	if err := wire.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Version != 1 || len(s.Eph) != 32 || len(s.Nonce) != 24 {
		t.Fatalf("outer: version %d, eph %d bytes, nonce %d bytes", s.Version, len(s.Eph), len(s.Nonce))
	}
	// libsodium's sk_to_curve25519, by hand.
	h := sha512.Sum512(b.Seed())
	h[0] &= 248
	h[31] = h[31]&127 | 64
	priv, err := ecdh.X25519().NewPrivateKey(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	eph, err := ecdh.X25519().NewPublicKey(s.Eph)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := priv.ECDH(eph)
	if err != nil {
		t.Fatal(err)
	}
	bx := priv.PublicKey().Bytes()
	key, err := hkdf.Key(sha256.New, shared, append(bytes.Clone(s.Eph), bx...), "parley envelope v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		t.Fatal(err)
	}
	bID := b.NodeID()
	padded, err := aead.Open(nil, s.Nonce, s.Box, append(bytes.Clone(bID[:]), s.Eph...))
	if err != nil {
		t.Fatalf("decrypt by the spec: %v", err)
	}
	if len(padded)%64 != 0 {
		t.Fatalf("plaintext is %d bytes", len(padded))
	}
	n := binary.BigEndian.Uint32(padded)
	if int(n) > len(padded)-4 || len(padded)-4-int(n) >= 64 {
		t.Fatalf("length prefix %d in %d bytes", n, len(padded))
	}
	var sl struct {
		Body []byte `cbor:"1,keyasint"`
		Sig  []byte `cbor:"2,keyasint"`
	}
	if err := wire.Unmarshal(padded[4:4+n], &sl); err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(a.PublicKey(), append([]byte("parley envelope v1"), sl.Body...), sl.Sig) {
		t.Fatal("signature is not over \"parley envelope v1\" || body")
	}
	var bd struct {
		From    []byte `cbor:"1,keyasint"`
		To      []byte `cbor:"2,keyasint"`
		ID      []byte `cbor:"3,keyasint"`
		Time    int64  `cbor:"4,keyasint"`
		Kind    uint8  `cbor:"5,keyasint"`
		Payload []byte `cbor:"6,keyasint"`
	}
	if err := wire.Unmarshal(sl.Body, &bd); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bd.From, a.PublicKey()) || !bytes.Equal(bd.To, bID[:]) || !bytes.Equal(bd.ID, id[:]) ||
		bd.Time != t0.UnixMilli() || bd.Kind != 42 || !bytes.Equal(bd.Payload, payload) {
		t.Fatalf("body %+v", bd)
	}
}

// TestGolden pins the wire format: the same identities, time and random
// bytes must always give the same envelope. If this changes, old envelopes
// in mailboxes stop opening: bump Version instead.
func TestGolden(t *testing.T) {
	a, b := ident(t, 1), ident(t, 2)
	data, _, err := Seal(a, b.PublicKey(), 9, []byte("golden"), t0, rnd(42))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	const want = "5c3554c589038d59edb170d997954a77826470408d5efb89682f4c096d28d493"
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("envelope hash %s, want %s (len %d)", got, want, len(data))
	}
	if _, err := Open(b, data, t0, Policy{}); err != nil {
		t.Fatal(err)
	}
}
