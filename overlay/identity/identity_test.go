package identity

import (
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"testing"
)

func TestNodeIDAndFingerprint(t *testing.T) {
	seed := make([]byte, 32)
	a, err := FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := FromSeed(seed)
	if a.NodeID() != b.NodeID() || a.Fingerprint() != b.Fingerprint() {
		t.Fatal("same seed, different identity")
	}
	if NodeIDOf(a.PublicKey()) != a.NodeID() {
		t.Fatal("NodeID is not the hash of the public key")
	}
	fp := a.Fingerprint()
	if len(fp) != 12*5+11 {
		t.Fatalf("fingerprint %q: want 12 groups of 5 digits", fp)
	}
	for i, r := range fp {
		if (i+1)%6 == 0 {
			if r != ' ' {
				t.Fatalf("fingerprint %q: no space at %d", fp, i)
			}
		} else if r < '0' || r > '9' {
			t.Fatalf("fingerprint %q: non-digit at %d", fp, i)
		}
	}
	c, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Fingerprint() == fp || c.NodeID() == a.NodeID() {
		t.Fatal("different keys, same fingerprint or NodeID")
	}
	if id, err := ParseNodeID(a.NodeID().String()); err != nil || id != a.NodeID() {
		t.Fatalf("ParseNodeID round trip: %v %v", id, err)
	}
	if _, err := ParseNodeID("abc"); !errors.Is(err, ErrBadNodeID) {
		t.Fatalf("ParseNodeID(abc) = %v", err)
	}
	if _, err := FromSeed([]byte{1, 2}); !errors.Is(err, ErrBadIdentity) {
		t.Fatalf("short seed: %v", err)
	}
}

// TestCertificate: the certificate carries the identity's key and nothing
// a peer must trust; it is made once.
func TestCertificate(t *testing.T) {
	id, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := id.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	x, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := x.PublicKey.(ed25519.PublicKey)
	if !ok || NodeIDOf(pub) != id.NodeID() {
		t.Fatalf("certificate key %T does not match the identity", x.PublicKey)
	}
	again, _ := id.Certificate()
	if &again.Certificate[0][0] != &cert.Certificate[0][0] {
		t.Fatal("certificate made twice")
	}
}
