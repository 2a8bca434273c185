// Package envelope seals and opens envelopes: letters from one peer to
// another that travel peer → supernode → supernode → peer (or wait in a
// mailbox), and that the supernodes carrying them can neither read nor
// forge.
//
// A peer has only its ed25519 identity. Its X25519 key is derived from it
// the way libsodium's crypto_sign_ed25519_pk_to_curve25519 and
// crypto_sign_ed25519_sk_to_curve25519 do, so an envelope can be sealed to
// anyone whose public key (or username record) is known, with no key
// exchange first.
//
// # Format
//
// The inner letter is the CBOR map {from pubkey, to NodeID, id, time (unix
// ms), kind, payload}. The sender signs "parley envelope v1" followed by
// those exact CBOR bytes with its ed25519 key. Because the signature covers
// the recipient, a recipient cannot re-seal a letter it received to a third
// party as if it had been written to them (surreptitious forwarding).
//
// The signed letter {body, signature}, length-prefixed and zero-padded to a
// multiple of 64 bytes, is encrypted with an ephemeral X25519 key:
//
//	shared = X25519(eph, recipientX)
//	key    = HKDF-SHA256(shared, salt = eph_pub || recipientX, info = "parley envelope v1")
//	box    = XChaCha20-Poly1305(key, nonce (24 random bytes), padded,
//	                            AAD = recipient NodeID || eph_pub)
//
// and the envelope is the CBOR map {version 1, eph_pub, nonce, box}.
//
// # What a supernode learns
//
// A supernode that carries an envelope learns which link it came in on,
// whom it is for (routing needs that, outside this package), and its size
// rounded up to 64 bytes. It does not learn the sender from the envelope,
// the kind, the time or the content, and any change it makes is refused by
// Open.
//
// # What the caller must do
//
// Open checks that a letter is authentic, is for the opener, and is neither
// older than Policy.MaxAge nor further in the future than Policy.Skew. It
// does not detect replays within that window: de-duplicating on
// (Letter.FromID, Letter.ID) is the caller's job (the IDs are persisted in
// sqlite by the layers above). The caller must remember an ID for at least
// MaxAge + Skew after the letter's time, or a supernode can deliver the same
// envelope again once it has been forgotten.
//
// The letter is signed, so a recipient can prove to others that the sender
// wrote it to them: envelopes are not deniable.
package envelope

import (
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/wire"
)

// Version is the envelope format this code writes and accepts.
const Version = 1

// MaxPayload is the largest payload Seal accepts: 60 KiB. A sealed envelope
// is at most MaxSealed bytes, a quarter of an overlay frame
// (wire.MaxFrame, 256 KiB), which leaves room for the routing message that
// carries it.
const MaxPayload = 60 << 10

// MaxSealed is the largest sealed envelope Open accepts. Seal never makes a
// larger one (the overhead of a letter is about 300 bytes).
const MaxSealed = MaxPayload + 1024

// Defaults for Policy.
const (
	// DefaultMaxAge is the mailbox time-to-live (30 days) plus an hour of margin.
	DefaultMaxAge = 30*24*time.Hour + time.Hour
	// DefaultSkew is how far in the future a letter's time may be.
	DefaultSkew = 5 * time.Minute
)

// padBlock is the unit the encrypted plaintext is padded to.
const padBlock = 64

// domain separates the signature and the key derivation of envelopes from
// every other use of the same keys.
const domain = "parley envelope v1"

// Letter is an opened envelope.
type Letter struct {
	From    ed25519.PublicKey // the sender's key, which signed the letter
	FromID  identity.NodeID   // NodeIDOf(From)
	ID      [16]byte          // random, chosen by the sender; de-duplicate on (FromID, ID)
	Time    time.Time         // when the sender sealed it, by the sender's clock (ms precision)
	Kind    uint8             // what the payload is; meaning is up to the caller
	Payload []byte

	to   identity.NodeID // whom the sender wrote it to
	body []byte          // the signed CBOR bytes
	sig  []byte
}

// Policy says which letter times Open accepts. A zero (or negative) field
// takes its default.
type Policy struct {
	MaxAge time.Duration // refuse letters older than this (DefaultMaxAge)
	Skew   time.Duration // refuse letters further in the future than this (DefaultSkew)
}

// body is the signed part of a letter.
type body struct {
	From    []byte `cbor:"1,keyasint"` // 32-byte ed25519 public key
	To      []byte `cbor:"2,keyasint"` // 32-byte NodeID
	ID      []byte `cbor:"3,keyasint"` // 16 bytes
	Time    int64  `cbor:"4,keyasint"` // unix milliseconds
	Kind    uint8  `cbor:"5,keyasint"`
	Payload []byte `cbor:"6,keyasint"`
}

// signed is the plaintext of an envelope (before padding).
type signed struct {
	Body []byte `cbor:"1,keyasint"` // CBOR of body, as signed
	Sig  []byte `cbor:"2,keyasint"`
}

// sealed is an envelope as it travels.
type sealed struct {
	Version uint8  `cbor:"1,keyasint"`
	Eph     []byte `cbor:"2,keyasint"` // ephemeral X25519 public key
	Nonce   []byte `cbor:"3,keyasint"` // 24 bytes
	Box     []byte `cbor:"4,keyasint"` // XChaCha20-Poly1305 of the padded plaintext
}

// ToCurve25519Public returns the X25519 public key of an ed25519 public
// key, as libsodium's crypto_sign_ed25519_pk_to_curve25519 does: the
// Montgomery u-coordinate of the point. Like libsodium it refuses keys that
// are not points, that have small order, or that lie outside the
// prime-order subgroup (ErrBadKey).
func ToCurve25519Public(pub ed25519.PublicKey) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadKey, len(pub), ed25519.PublicKeySize)
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: not a curve point", ErrBadKey)
	}
	if smallOrder(p) {
		return nil, fmt.Errorf("%w: small-order point", ErrBadKey)
	}
	if !primeOrder(p) {
		return nil, fmt.Errorf("%w: point outside the prime-order subgroup", ErrBadKey)
	}
	return p.BytesMontgomery(), nil
}

var identityPoint = edwards25519.NewIdentityPoint()

// smallOrder reports whether [8]p is the identity.
func smallOrder(p *edwards25519.Point) bool {
	return new(edwards25519.Point).MultByCofactor(p).Equal(identityPoint) == 1
}

// lMinusOne is the scalar ℓ-1 (that is, -1 mod ℓ).
var lMinusOne = edwards25519.NewScalar().Subtract(edwards25519.NewScalar(), scalarOne())

func scalarOne() *edwards25519.Scalar {
	var b [32]byte
	b[0] = 1
	s, err := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	if err != nil {
		panic(err)
	}
	return s
}

// primeOrder reports whether [ℓ]p is the identity, computed as [ℓ-1]p + p.
// It is variable-time: only for public keys.
func primeOrder(p *edwards25519.Point) bool {
	q := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(lMinusOne, p, edwards25519.NewScalar())
	return q.Add(q, p).Equal(identityPoint) == 1
}

// curvePrivate returns the X25519 private key of an identity, as libsodium's
// crypto_sign_ed25519_sk_to_curve25519 does: the first half of
// SHA-512(seed), clamped.
func curvePrivate(id *identity.Identity) (*ecdh.PrivateKey, error) {
	h := sha512.Sum512(id.Seed())
	defer clear(h[:])
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	return ecdh.X25519().NewPrivateKey(h[:32])
}

// Seal writes a letter from from to the peer whose public key is to, and
// returns the envelope and the letter's ID. now is the letter's time; rand
// supplies the ID, the ephemeral key and the nonce (crypto/rand when nil).
func Seal(from *identity.Identity, to ed25519.PublicKey, kind uint8, payload []byte, now time.Time, rand io.Reader) (data []byte, id [16]byte, err error) {
	if from == nil {
		return nil, id, fmt.Errorf("%w: no sender identity", ErrBadKey)
	}
	if len(payload) > MaxPayload {
		return nil, id, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(payload), MaxPayload)
	}
	rand = orCryptoRand(rand)
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return nil, id, fmt.Errorf("envelope: letter ID: %w", err)
	}
	if len(to) != ed25519.PublicKeySize {
		return nil, id, fmt.Errorf("%w: recipient key is %d bytes", ErrBadKey, len(to))
	}
	toID := identity.NodeIDOf(to)
	inner, err := sign(from, body{
		From:    from.PublicKey(),
		To:      toID[:],
		ID:      id[:],
		Time:    now.UnixMilli(),
		Kind:    kind,
		Payload: payload,
	})
	if err != nil {
		return nil, id, err
	}
	data, err = encrypt(to, inner, rand)
	return data, id, err
}

// sign encodes b and signs it with from, returning the unpadded plaintext
// of an envelope.
func sign(from *identity.Identity, b body) ([]byte, error) {
	bb, err := wire.Marshal(&b)
	if err != nil {
		return nil, fmt.Errorf("envelope: encode letter: %w", err)
	}
	inner, err := wire.Marshal(&signed{Body: bb, Sig: from.Sign(signingMessage(bb))})
	if err != nil {
		return nil, fmt.Errorf("envelope: encode letter: %w", err)
	}
	return inner, nil
}

func signingMessage(bodyCBOR []byte) []byte {
	m := make([]byte, 0, len(domain)+len(bodyCBOR))
	return append(append(m, domain...), bodyCBOR...)
}

// encrypt pads inner and encrypts it to the holder of to.
func encrypt(to ed25519.PublicKey, inner []byte, rand io.Reader) ([]byte, error) {
	rand = orCryptoRand(rand)
	toX, err := ToCurve25519Public(to)
	if err != nil {
		return nil, err
	}
	toPub, err := ecdh.X25519().NewPublicKey(toX)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	// The ephemeral scalar is read from rand rather than made by
	// GenerateKey, which ignores its reader from Go 1.26 on.
	var ephSeed [32]byte
	if _, err := io.ReadFull(rand, ephSeed[:]); err != nil {
		return nil, fmt.Errorf("envelope: ephemeral key: %w", err)
	}
	eph, err := ecdh.X25519().NewPrivateKey(ephSeed[:])
	clear(ephSeed[:])
	if err != nil {
		return nil, fmt.Errorf("envelope: ephemeral key: %w", err)
	}
	shared, err := eph.ECDH(toPub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	ephPub := eph.PublicKey().Bytes()
	aead, err := newAEAD(shared, ephPub, toX)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, fmt.Errorf("envelope: nonce: %w", err)
	}
	toID := identity.NodeIDOf(to)
	box := aead.Seal(nil, nonce, pad(inner), additionalData(toID, ephPub))
	data, err := wire.Marshal(&sealed{Version: Version, Eph: ephPub, Nonce: nonce, Box: box})
	if err != nil {
		return nil, fmt.Errorf("envelope: encode: %w", err)
	}
	return data, nil
}

func newAEAD(shared, ephPub, toX []byte) (cipher.AEAD, error) {
	salt := make([]byte, 0, len(ephPub)+len(toX))
	salt = append(append(salt, ephPub...), toX...)
	key, err := hkdf.Key(sha256.New, shared, salt, domain, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("envelope: derive key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: cipher: %w", err)
	}
	return aead, nil
}

func additionalData(to identity.NodeID, ephPub []byte) []byte {
	ad := make([]byte, 0, len(to)+len(ephPub))
	return append(append(ad, to[:]...), ephPub...)
}

// pad returns the 4-byte big-endian length of inner, inner, and zeros up to
// a multiple of padBlock.
func pad(inner []byte) []byte {
	n := 4 + len(inner)
	n += (padBlock - n%padBlock) % padBlock
	p := make([]byte, n)
	binary.BigEndian.PutUint32(p, uint32(len(inner)))
	copy(p[4:], inner)
	return p
}

// unpad undoes pad, strictly: whole blocks, fewer than padBlock bytes of
// padding, all zero.
func unpad(p []byte) ([]byte, error) {
	if len(p) < padBlock || len(p)%padBlock != 0 {
		return nil, fmt.Errorf("%w: padded plaintext is %d bytes", ErrMalformed, len(p))
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(len(p)-4) || uint64(len(p)-4)-uint64(n) >= padBlock {
		return nil, fmt.Errorf("%w: length %d in %d padded bytes", ErrMalformed, n, len(p))
	}
	inner, padding := p[4:4+n], p[4+n:]
	for _, b := range padding {
		if b != 0 {
			return nil, fmt.Errorf("%w: non-zero padding", ErrMalformed)
		}
	}
	return inner, nil
}

// Open decrypts an envelope sealed to to, verifies the letter inside and
// checks that it is addressed to to and that its time is acceptable under p
// at now. It never panics, whatever data holds. Replays are not detected
// here: see the package comment.
func Open(to *identity.Identity, data []byte, now time.Time, p Policy) (*Letter, error) {
	if to == nil {
		return nil, fmt.Errorf("%w: no recipient identity", ErrBadKey)
	}
	inner, err := decrypt(to, data)
	if err != nil {
		return nil, err
	}
	l, err := parse(inner)
	if err != nil {
		return nil, err
	}
	if err := check(l, to.NodeID(), now, p); err != nil {
		return nil, err
	}
	return l, nil
}

// decrypt opens the outer layer of an envelope and returns its unpadded
// plaintext (the signed letter).
func decrypt(to *identity.Identity, data []byte) ([]byte, error) {
	if len(data) > MaxSealed {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(data), MaxSealed)
	}
	var s sealed
	if err := wire.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case s.Version != Version:
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, s.Version, Version)
	case len(s.Eph) != 32:
		return nil, fmt.Errorf("%w: ephemeral key is %d bytes", ErrMalformed, len(s.Eph))
	case len(s.Nonce) != chacha20poly1305.NonceSizeX:
		return nil, fmt.Errorf("%w: nonce is %d bytes", ErrMalformed, len(s.Nonce))
	case len(s.Box) < chacha20poly1305.Overhead+padBlock:
		return nil, fmt.Errorf("%w: box is %d bytes", ErrMalformed, len(s.Box))
	}
	priv, err := curvePrivate(to)
	if err != nil {
		return nil, fmt.Errorf("%w: recipient identity: %v", ErrBadKey, err)
	}
	ephPub, err := ecdh.X25519().NewPublicKey(s.Eph)
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %v", ErrDecrypt, err)
	}
	shared, err := priv.ECDH(ephPub)
	if err != nil { // a small-order ephemeral key
		return nil, fmt.Errorf("%w: ephemeral key: %v", ErrDecrypt, err)
	}
	aead, err := newAEAD(shared, s.Eph, priv.PublicKey().Bytes())
	if err != nil {
		return nil, err
	}
	padded, err := aead.Open(nil, s.Nonce, s.Box, additionalData(to.NodeID(), s.Eph))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	return unpad(padded)
}

// parse decodes a signed letter and verifies its signature.
func parse(inner []byte) (*Letter, error) {
	var sl signed
	if err := wire.Unmarshal(inner, &sl); err != nil {
		return nil, fmt.Errorf("%w: letter: %v", ErrMalformed, err)
	}
	var b body
	if err := wire.Unmarshal(sl.Body, &b); err != nil {
		return nil, fmt.Errorf("%w: letter body: %v", ErrMalformed, err)
	}
	switch {
	case len(b.From) != ed25519.PublicKeySize:
		return nil, fmt.Errorf("%w: sender key is %d bytes", ErrMalformed, len(b.From))
	case len(b.To) != len(identity.NodeID{}):
		return nil, fmt.Errorf("%w: recipient is %d bytes", ErrMalformed, len(b.To))
	case len(b.ID) != 16:
		return nil, fmt.Errorf("%w: letter ID is %d bytes", ErrMalformed, len(b.ID))
	case len(b.Payload) > MaxPayload:
		return nil, fmt.Errorf("%w: payload is %d bytes", ErrMalformed, len(b.Payload))
	case len(sl.Sig) != ed25519.SignatureSize:
		return nil, fmt.Errorf("%w: signature is %d bytes", ErrSignature, len(sl.Sig))
	}
	// A small-order key verifies forged signatures (with the identity
	// point, any message): refuse it as a sender.
	if p, err := new(edwards25519.Point).SetBytes(b.From); err != nil || smallOrder(p) {
		return nil, fmt.Errorf("%w: unusable sender key", ErrSignature)
	}
	if !ed25519.Verify(b.From, signingMessage(sl.Body), sl.Sig) {
		return nil, ErrSignature
	}
	l := &Letter{
		From:    ed25519.PublicKey(b.From),
		FromID:  identity.NodeIDOf(b.From),
		Time:    time.UnixMilli(b.Time),
		Kind:    b.Kind,
		Payload: b.Payload,
		to:      identity.NodeID(b.To),
		body:    sl.Body,
		sig:     sl.Sig,
	}
	if l.Payload == nil {
		l.Payload = []byte{}
	}
	copy(l.ID[:], b.ID)
	return l, nil
}

// check applies the recipient and time checks to a verified letter.
func check(l *Letter, me identity.NodeID, now time.Time, p Policy) error {
	if l.to != me {
		return fmt.Errorf("%w: written to %s", ErrNotForMe, l.to.Short())
	}
	maxAge, skew := p.MaxAge, p.Skew
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if skew <= 0 {
		skew = DefaultSkew
	}
	// Compare times, not durations: now.Sub saturates for the absurd
	// times a hostile letter may carry, and -minDuration is negative.
	if l.Time.Before(now.Add(-maxAge)) {
		return fmt.Errorf("%w: written %v ago, limit %v", ErrExpired, now.Sub(l.Time), maxAge)
	}
	if l.Time.After(now.Add(skew)) {
		return fmt.Errorf("%w: dated %v ahead, limit %v", ErrFuture, l.Time.Sub(now), skew)
	}
	return nil
}

func orCryptoRand(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
