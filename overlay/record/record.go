// Package record is what the directory holds and the ring that places it:
// signed records (username claims with their proof of work, presences,
// supernode announcements with endorsements), the rules that validate and
// order them, and the consistent-hash ring that names each key's holders.
// It is pure: no network, no clock but the one it is given.
package record

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/wire"
)

// Records. A record (wire.Record) is a statement by its owner: a username
// claim, a presence or a supernode announcement. The owner signs
//
//	"parley-record-v1\x00" || CBOR(record with Sig empty)
//
// with its ed25519 key; the CBOR is the deterministic encoding of package
// wire, so every peer computes the same bytes. A record lives under a key
// on the directory ring:
//
//	claim     SHA-256("parley-claim\x00" || case-folded name)
//	presence  SHA-256("parley-presence\x00" || owner NodeID)
//	announce  SHA-256("parley-announce\x00" || owner NodeID)
//
// so that a record about a name, or about one peer, always lands on the
// same holders, and a record about one peer cannot be stored under
// another's key. Policy.Validate checks everything a record can be
// checked for on its own; Supersedes decides between two valid records
// under one key.

// Record limits.
const (
	// ClaimTTL is how long a username claim lives unless renewed: a name
	// whose holder stops renewing it is free again after this.
	ClaimTTL = 30 * 24 * time.Hour
	// MaxPresenceTTL and MaxAnnounceTTL bound the lifetime of those
	// records, so that a silent death shows within a bounded time. (A
	// supernode's death shows sooner, by down notices; its announcement
	// lives a day and is refreshed every 8 hours, which keeps the tier's
	// traffic to the changes it sees.)
	MaxPresenceTTL = time.Hour
	MaxAnnounceTTL = 24 * time.Hour
	// MaxRecordBody is the largest record body accepted.
	MaxRecordBody = 4096
	// clockSkew is how far in the future a record's issue time may be.
	clockSkew = 5 * time.Minute
	// maxPresenceSupernodes and maxEndorsements bound the lists in bodies.
	maxPresenceSupernodes = 4
	maxEndorsements       = 8
)

// Username form: 3 to 32 characters, ASCII letters (case-folded), digits,
// '.', '_' and '-', starting with a letter. ASCII only, so that no two
// names look alike on screen.
const (
	minNameLen = 3
	maxNameLen = 32
)

const (
	recordDomain      = "parley-record-v1\x00"
	endorsementDomain = "parley-endorsement-v1\x00"
	downDomain        = "parley-down-v1\x00"
)

// verified remembers signatures that verified, by a hash of key, message
// and signature: the same record or endorsement is checked many times (by
// the supernode that routes it, each holder, each reader, every view
// refresh), and a hash costs a small fraction of an ed25519 verification.
var verified struct {
	sync.Mutex
	m map[[32]byte]struct{}
}

// maxVerified bounds the memo; it is emptied when full.
const maxVerified = 1 << 16

// verifySig reports whether sig is pub's ed25519 signature of msg.
func verifySig(pub ed25519.PublicKey, msg, sig []byte) bool {
	h := sha256.New()
	h.Write(pub)
	h.Write(sig)
	h.Write(msg)
	var k [32]byte
	h.Sum(k[:0])
	verified.Lock()
	_, ok := verified.m[k]
	verified.Unlock()
	if ok {
		return true
	}
	if !ed25519.Verify(pub, msg, sig) {
		return false
	}
	verified.Lock()
	if verified.m == nil || len(verified.m) >= maxVerified {
		verified.m = make(map[[32]byte]struct{})
	}
	verified.m[k] = struct{}{}
	verified.Unlock()
	return true
}

// NormalizeName trims and case-folds a username and checks its form.
func NormalizeName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if len(n) < minNameLen || len(n) > maxNameLen {
		return "", fmt.Errorf("%w: %q: a name has %d to %d characters", ErrBadName, name, minNameLen, maxNameLen)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'):
		default:
			return "", fmt.Errorf("%w: %q: use letters, digits, '.', '_' or '-', starting with a letter", ErrBadName, name)
		}
	}
	return n, nil
}

func hashKey(domain string, b []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write(b)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// ClaimKey returns the directory key of a username (already normalized).
func ClaimKey(name string) [32]byte { return hashKey("parley-claim\x00", []byte(name)) }

// PresenceKey returns the directory key of a peer's presence.
func PresenceKey(id identity.NodeID) [32]byte { return hashKey("parley-presence\x00", id[:]) }

// AnnounceKey returns the directory key of a supernode's announcement.
func AnnounceKey(id identity.NodeID) [32]byte { return hashKey("parley-announce\x00", id[:]) }

// recordSigningBytes returns what the owner of rec signs.
func recordSigningBytes(rec *wire.Record) ([]byte, error) {
	r := *rec
	r.Sig = nil
	b, err := wire.Marshal(&r)
	if err != nil {
		return nil, err
	}
	return append([]byte(recordDomain), b...), nil
}

// Sign fills in rec's Owner and Sig with id.
func Sign(id *identity.Identity, rec *wire.Record) error {
	rec.Owner = append([]byte(nil), id.PublicKey()...)
	b, err := recordSigningBytes(rec)
	if err != nil {
		return fmt.Errorf("overlay: sign record: %w", err)
	}
	rec.Sig = id.Sign(b)
	return nil
}

func newRecord(id *identity.Identity, kind wire.Kind, body any, seq uint64, now time.Time, ttl time.Duration) (*wire.Record, error) {
	b, err := wire.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("overlay: record body: %w", err)
	}
	rec := &wire.Record{Kind: kind, Seq: seq, Issued: now.UnixMilli(), Expires: now.Add(ttl).UnixMilli(), Body: b}
	if err := Sign(id, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// NewClaim makes a signed claim of name by id, solving its proof of work
// of difficulty bits (about a second of one core at the default). seq must
// grow with every renewal.
func NewClaim(id *identity.Identity, name string, seq uint64, now time.Time, ttl time.Duration, difficulty int) (*wire.Record, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return nil, err
	}
	nonce := SolveClaimPoW(n, id.PublicKey(), difficulty)
	return newRecord(id, wire.KindClaim, wire.ClaimBody{Name: n, Nonce: nonce}, seq, now, ttl)
}

// NewPresence makes a signed presence record of id.
func NewPresence(id *identity.Identity, body wire.PresenceBody, seq uint64, now time.Time, ttl time.Duration) (*wire.Record, error) {
	return newRecord(id, wire.KindPresence, body, seq, now, ttl)
}

// NewAnnounce makes a signed announcement of the supernode id.
func NewAnnounce(id *identity.Identity, body wire.AnnounceBody, seq uint64, now time.Time, ttl time.Duration) (*wire.Record, error) {
	return newRecord(id, wire.KindAnnounce, body, seq, now, ttl)
}

// DecodeClaim returns the body of a claim record.
func DecodeClaim(rec *wire.Record) (wire.ClaimBody, error) {
	var b wire.ClaimBody
	if rec.Kind != wire.KindClaim {
		return b, fmt.Errorf("%w: not a claim", ErrBadRecord)
	}
	if err := wire.Unmarshal(rec.Body, &b); err != nil {
		return b, fmt.Errorf("%w: claim body: %v", ErrBadRecord, err)
	}
	return b, nil
}

// DecodePresence returns the body of a presence record.
func DecodePresence(rec *wire.Record) (wire.PresenceBody, error) {
	var b wire.PresenceBody
	if rec.Kind != wire.KindPresence {
		return b, fmt.Errorf("%w: not a presence", ErrBadRecord)
	}
	if err := wire.Unmarshal(rec.Body, &b); err != nil {
		return b, fmt.Errorf("%w: presence body: %v", ErrBadRecord, err)
	}
	return b, nil
}

// DecodeAnnounce returns the body of an announcement record.
func DecodeAnnounce(rec *wire.Record) (wire.AnnounceBody, error) {
	var b wire.AnnounceBody
	if rec.Kind != wire.KindAnnounce {
		return b, fmt.Errorf("%w: not an announcement", ErrBadRecord)
	}
	if err := wire.Unmarshal(rec.Body, &b); err != nil {
		return b, fmt.Errorf("%w: announcement body: %v", ErrBadRecord, err)
	}
	return b, nil
}

// Policy is what a peer checks records against.
type Policy struct {
	// Difficulty is the proof of work a claim must carry, in bits.
	Difficulty int
	// Now is the clock that expiry is checked against.
	Now func() time.Time
}

// Validate checks a record on its own: size, owner key, signature, times,
// body and, for a claim, the name's form and proof of work. It returns the
// key the record lives under, or an error wrapping ErrBadRecord that says
// why it was refused.
func (p Policy) Validate(rec *wire.Record) ([32]byte, error) {
	var key [32]byte
	if rec == nil {
		return key, fmt.Errorf("%w: no record", ErrBadRecord)
	}
	if len(rec.Body) > MaxRecordBody {
		return key, fmt.Errorf("%w: body of %d bytes, limit %d", ErrBadRecord, len(rec.Body), MaxRecordBody)
	}
	if len(rec.Owner) != ed25519.PublicKeySize || len(rec.Sig) != ed25519.SignatureSize {
		return key, fmt.Errorf("%w: malformed owner key or signature", ErrBadRecord)
	}
	signed, err := recordSigningBytes(rec)
	if err != nil || !verifySig(rec.Owner, signed, rec.Sig) {
		return key, fmt.Errorf("%w: bad signature", ErrBadRecord)
	}
	now := p.Now()
	if rec.Expires <= now.UnixMilli() {
		return key, fmt.Errorf("%w: expired", ErrBadRecord)
	}
	if rec.Issued > now.Add(clockSkew).UnixMilli() {
		return key, fmt.Errorf("%w: issued in the future", ErrBadRecord)
	}
	if rec.Issued < 0 || rec.Expires < rec.Issued {
		return key, fmt.Errorf("%w: expires before it was issued", ErrBadRecord)
	}
	// Both are non-negative here, so the difference cannot overflow; it is
	// compared in milliseconds, as a Duration it could.
	lifeMS := rec.Expires - rec.Issued
	tooLong := func(limit time.Duration) error {
		if lifeMS > limit.Milliseconds() {
			return fmt.Errorf("%w: %s lives %d ms, limit %v", ErrBadRecord, kindName(rec.Kind), lifeMS, limit)
		}
		return nil
	}
	owner := identity.NodeIDOf(rec.Owner)
	switch rec.Kind {
	case wire.KindClaim:
		b, err := DecodeClaim(rec)
		if err != nil {
			return key, err
		}
		if n, err := NormalizeName(b.Name); err != nil || n != b.Name {
			return key, fmt.Errorf("%w: claim of a malformed name", ErrBadRecord)
		}
		if err := tooLong(ClaimTTL); err != nil {
			return key, err
		}
		if !CheckClaimPoW(b.Name, rec.Owner, b.Nonce, p.Difficulty) {
			return key, fmt.Errorf("%w: claim lacks its proof of work", ErrBadRecord)
		}
		return ClaimKey(b.Name), nil
	case wire.KindPresence:
		b, err := DecodePresence(rec)
		if err != nil {
			return key, err
		}
		if b.Status < wire.StatusOnline || b.Status > wire.StatusOffline {
			return key, fmt.Errorf("%w: unknown presence status %d", ErrBadRecord, b.Status)
		}
		if len(b.Supernodes) > maxPresenceSupernodes {
			return key, fmt.Errorf("%w: presence names %d supernodes, limit %d", ErrBadRecord, len(b.Supernodes), maxPresenceSupernodes)
		}
		if err := tooLong(MaxPresenceTTL); err != nil {
			return key, err
		}
		return PresenceKey(owner), nil
	case wire.KindAnnounce:
		b, err := DecodeAnnounce(rec)
		if err != nil {
			return key, err
		}
		if _, _, err := net.SplitHostPort(b.Addr); err != nil {
			return key, fmt.Errorf("%w: announcement address %q", ErrBadRecord, b.Addr)
		}
		if len(b.Endorsements) > maxEndorsements {
			return key, fmt.Errorf("%w: %d endorsements, limit %d", ErrBadRecord, len(b.Endorsements), maxEndorsements)
		}
		if err := tooLong(MaxAnnounceTTL); err != nil {
			return key, err
		}
		return AnnounceKey(owner), nil
	}
	return key, fmt.Errorf("%w: unknown kind %d", ErrBadRecord, rec.Kind)
}

func kindName(k wire.Kind) string {
	switch k {
	case wire.KindClaim:
		return "claim"
	case wire.KindPresence:
		return "presence"
	case wire.KindAnnounce:
		return "announcement"
	}
	return fmt.Sprintf("kind %d", k)
}

// Supersedes reports, as nil, whether the valid record next may replace
// old, a valid record under the same key. An expired old record is always
// replaced. A claim by another key than old's fails with ErrNameTaken (the
// first valid claim wins until it lapses); otherwise next must carry a
// higher sequence number, else ErrStale (a replay or an older record).
func Supersedes(next, old *wire.Record, now time.Time) error {
	if old.Expires <= now.UnixMilli() {
		return nil
	}
	if !bytes.Equal(next.Owner, old.Owner) {
		if old.Kind == wire.KindClaim {
			return fmt.Errorf("%w: held by key %s", ErrNameTaken, identity.NodeIDOf(old.Owner).Short())
		}
		return fmt.Errorf("%w: another owner's record", ErrBadRecord)
	}
	if next.Seq <= old.Seq {
		return fmt.Errorf("%w: sequence %d, have %d", ErrStale, next.Seq, old.Seq)
	}
	return nil
}

// Same reports whether a and b are the same signed record.
func Same(a, b *wire.Record) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Kind == b.Kind && a.Seq == b.Seq && a.Issued == b.Issued && a.Expires == b.Expires &&
		bytes.Equal(a.Owner, b.Owner) && bytes.Equal(a.Body, b.Body) && bytes.Equal(a.Sig, b.Sig)
}

// endorsementSigningBytes returns what the verifier of e signs.
func endorsementSigningBytes(e wire.Endorsement) ([]byte, error) {
	e.Sig = nil
	b, err := wire.Marshal(&e)
	if err != nil {
		return nil, err
	}
	return append([]byte(endorsementDomain), b...), nil
}

// NewEndorsement signs, as verifier id, that candidate was reached at addr
// over TCP and UDP.
func NewEndorsement(id *identity.Identity, candidate identity.NodeID, addr string, now time.Time, ttl time.Duration) wire.Endorsement {
	e := wire.Endorsement{
		Candidate: append([]byte(nil), candidate[:]...),
		Addr:      addr,
		Verifier:  append([]byte(nil), id.PublicKey()...),
		Issued:    now.UnixMilli(),
		Expires:   now.Add(ttl).UnixMilli(),
	}
	b, err := endorsementSigningBytes(e)
	if err == nil {
		e.Sig = id.Sign(b)
	}
	return e
}

// VerifyEndorsement checks that e is a valid, unexpired endorsement of
// candidate at addr, and returns the verifier's NodeID.
func VerifyEndorsement(e wire.Endorsement, candidate identity.NodeID, addr string, now time.Time) (identity.NodeID, error) {
	if len(e.Verifier) != ed25519.PublicKeySize || len(e.Sig) != ed25519.SignatureSize {
		return identity.NodeID{}, fmt.Errorf("%w: malformed endorsement", ErrBadRecord)
	}
	if !bytes.Equal(e.Candidate, candidate[:]) || e.Addr != addr {
		return identity.NodeID{}, fmt.Errorf("%w: endorsement of another peer or address", ErrBadRecord)
	}
	if e.Expires <= now.UnixMilli() || e.Issued > now.Add(clockSkew).UnixMilli() {
		return identity.NodeID{}, fmt.Errorf("%w: endorsement expired or from the future", ErrBadRecord)
	}
	b, err := endorsementSigningBytes(e)
	if err != nil || !verifySig(e.Verifier, b, e.Sig) {
		return identity.NodeID{}, fmt.Errorf("%w: bad endorsement signature", ErrBadRecord)
	}
	v := identity.NodeIDOf(e.Verifier)
	if v == candidate {
		return identity.NodeID{}, fmt.Errorf("%w: self-endorsement", ErrBadRecord)
	}
	return v, nil
}

// CountEndorsements counts the distinct verifiers, trusted by the caller,
// that validly endorsed the supernode id at the address body announces.
func CountEndorsements(body wire.AnnounceBody, id identity.NodeID, now time.Time, trusted func(identity.NodeID) bool) int {
	seen := make(map[identity.NodeID]bool, len(body.Endorsements))
	for _, e := range body.Endorsements {
		v, err := VerifyEndorsement(e, id, body.Addr, now)
		if err != nil || seen[v] || !trusted(v) {
			continue
		}
		seen[v] = true
	}
	return len(seen)
}

// downSigningBytes returns what the signer of n signs.
func downSigningBytes(n wire.DownNotice) ([]byte, error) {
	n.Sig = nil
	b, err := wire.Marshal(&n)
	if err != nil {
		return nil, err
	}
	return append([]byte(downDomain), b...), nil
}

// NewDownNotice signs, as id, that supernode node is down as of its
// announcement seq (id may be node itself, leaving).
func NewDownNotice(id *identity.Identity, node identity.NodeID, seq uint64, now time.Time, ttl time.Duration) wire.DownNotice {
	n := wire.DownNotice{
		Node:    append([]byte(nil), node[:]...),
		Seq:     seq,
		Signer:  append([]byte(nil), id.PublicKey()...),
		Issued:  now.UnixMilli(),
		Expires: now.Add(ttl).UnixMilli(),
	}
	if b, err := downSigningBytes(n); err == nil {
		n.Sig = id.Sign(b)
	}
	return n
}

// VerifyDownNotice checks that n is a well-formed, unexpired notice with a
// valid signature, and returns the supernode it is about and its signer.
func VerifyDownNotice(n wire.DownNotice, now time.Time) (node, signer identity.NodeID, err error) {
	if len(n.Node) != len(node) || len(n.Signer) != ed25519.PublicKeySize || len(n.Sig) != ed25519.SignatureSize {
		return node, signer, fmt.Errorf("%w: malformed down notice", ErrBadRecord)
	}
	if n.Expires <= now.UnixMilli() || n.Issued > now.Add(clockSkew).UnixMilli() || n.Expires-n.Issued > MaxAnnounceTTL.Milliseconds() {
		return node, signer, fmt.Errorf("%w: down notice expired, from the future or too long-lived", ErrBadRecord)
	}
	b, err := downSigningBytes(n)
	if err != nil || !verifySig(n.Signer, b, n.Sig) {
		return node, signer, fmt.Errorf("%w: bad down notice signature", ErrBadRecord)
	}
	return identity.NodeID(n.Node), identity.NodeIDOf(n.Signer), nil
}
