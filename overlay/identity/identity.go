// Package identity is a peer's long-term key: its ed25519 key pair, the
// NodeID that names it on the network, its safety number and the TLS
// certificate that carries it on overlay links.
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"time"
)

// NodeID names a peer on the network: the SHA-256 of its ed25519 public key.
type NodeID [32]byte

// NodeIDOf returns the NodeID of a public key.
func NodeIDOf(pub ed25519.PublicKey) NodeID { return sha256.Sum256(pub) }

// String returns the NodeID in lower-case hex.
func (id NodeID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for logs.
func (id NodeID) Short() string { return hex.EncodeToString(id[:6]) }

// IsZero reports whether id is the zero NodeID (meaning "not known").
func (id NodeID) IsZero() bool { return id == NodeID{} }

// ParseNodeID parses the 64-digit hex form written by String.
func ParseNodeID(s string) (NodeID, error) {
	var id NodeID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%w: %q is not 64 hex digits", ErrBadNodeID, s)
	}
	copy(id[:], b)
	return id, nil
}

// Identity is a peer's long-term ed25519 key pair.
type Identity struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	id   NodeID

	certOnce sync.Once       // makes cert, on first use
	cert     tls.Certificate // self-signed, carrying pub (see certificate)
	certErr  error
}

// New makes a fresh identity from r (crypto/rand.Reader when nil).
func New(r io.Reader) (*Identity, error) {
	if r == nil {
		r = rand.Reader
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(r, seed); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return FromSeed(seed)
}

// FromSeed rebuilds an identity from the 32-byte seed kept in the profile.
func FromSeed(seed []byte) (*Identity, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: seed is %d bytes, want %d", ErrBadIdentity, len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	return &Identity{priv: priv, pub: pub, id: NodeIDOf(pub)}, nil
}

// NodeID returns the identity's NodeID.
func (i *Identity) NodeID() NodeID { return i.id }

// PublicKey returns the identity's public key.
func (i *Identity) PublicKey() ed25519.PublicKey { return i.pub }

// Seed returns the 32-byte private seed, which is what a profile stores.
func (i *Identity) Seed() []byte { return i.priv.Seed() }

// Sign signs msg with the identity's private key.
func (i *Identity) Sign(msg []byte) []byte { return ed25519.Sign(i.priv, msg) }

// Fingerprint returns the identity's safety number (see Fingerprint).
func (i *Identity) Fingerprint() string { return Fingerprint(i.pub) }

// fingerprintRounds makes finding a second key with the same safety number
// (or a long shared prefix of it) cost that many hashes per try.
const fingerprintRounds = 1024

// Fingerprint returns the safety number of a public key: 60 decimal digits in
// twelve groups of five, as users read them to each other to compare keys out
// of band. It is derived from the key by iterated SHA-512, so the same key
// always gives the same number on every platform.
func Fingerprint(pub ed25519.PublicKey) string {
	h := sha512.Sum512(append([]byte("parley-fingerprint-v1"), pub...))
	for range fingerprintRounds {
		s := sha512.New()
		s.Write(h[:])
		s.Write(pub)
		s.Sum(h[:0])
	}
	groups := make([]string, 12)
	for g := range groups {
		var b [8]byte
		copy(b[3:], h[g*5:g*5+5])
		groups[g] = fmt.Sprintf("%05d", binary.BigEndian.Uint64(b[:])%100000)
	}
	return strings.Join(groups, " ")
}

// Certificate returns a self-signed TLS certificate whose key is the
// identity's ed25519 key. Nothing in it but the key matters: peers check the key
// against the NodeID they expect, never a CA or a name.
// It is made once per identity: signing one costs as much as a handshake.
func (i *Identity) Certificate() (tls.Certificate, error) {
	i.certOnce.Do(func() { i.cert, i.certErr = makeCertificate(i) })
	return i.cert, i.certErr
}

func makeCertificate(id *Identity) (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: id.NodeID().String()},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, id.pub, id.priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity: make certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: id.priv}, nil
}
