package record

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// Proof of work for username claims. A claim carries a nonce such that
//
//	SHA-256("parley-claim-pow-v1\x00" || name || "\x00" || owner || nonce)
//
// (owner: the 32-byte ed25519 public key, nonce: 8 bytes big-endian) has at
// least the required number of leading zero bits. The work binds the name
// and the key but not the time, so a renewal of a claim reuses its nonce and
// costs nothing; only claiming a new name (or the same name with a new key)
// costs work.

// DefaultClaimDifficulty is the proof of work, in leading zero bits, that a
// username claim must carry: solving takes 2^DefaultClaimDifficulty hashes
// on average.
//
// Measured on the development machine (2-core Intel Xeon with SHA
// extensions, Go 1.26) with
//
//	go test -run '^$' -bench ClaimPoWHashRate -benchtime 2000x ./overlay/
//
// the solve loop does about 7.9 million hashes per second on one core, so
// 23 bits (8.4 million hashes expected) take about 1.1 s of one core on
// average; a machine without SHA instructions takes two to three times
// that. Like any proof of work the time to solve is geometrically
// distributed: a claim takes more than three times the mean about 5% of
// the time. docs/BENCHMARKS.md has the figures.
const DefaultClaimDifficulty = 23

// powPrefix is the domain separation prefix of the claim proof of work.
const powPrefix = "parley-claim-pow-v1\x00"

// maxPoWInput bounds the hash input: prefix, a name of at most the longest
// valid name, separator, key and nonce. Longer (invalid) names are hashed
// through the slow path.
const maxPoWInput = len(powPrefix) + maxNameLen + 1 + ed25519.PublicKeySize + 8

// powInput writes the hash input for nonce 0 into buf and returns its
// length, or -1 if it does not fit.
func powInput(buf *[maxPoWInput]byte, name string, owner ed25519.PublicKey) int {
	n := len(powPrefix) + len(name) + 1 + len(owner) + 8
	if n > len(buf) {
		return -1
	}
	i := copy(buf[:], powPrefix)
	i += copy(buf[i:], name)
	buf[i] = 0
	i++
	i += copy(buf[i:], owner)
	return n
}

// leadingZeroBits returns the number of leading zero bits of h.
func leadingZeroBits(h *[sha256.Size]byte) int {
	n := 0
	for i := 0; i < len(h); i += 8 {
		w := binary.BigEndian.Uint64(h[i:])
		if w != 0 {
			return n + bits.LeadingZeros64(w)
		}
		n += 64
	}
	return n
}

// powHash returns the proof-of-work hash of name, owner and nonce.
func powHash(name string, owner ed25519.PublicKey, nonce uint64) [sha256.Size]byte {
	var buf [maxPoWInput]byte
	n := powInput(&buf, name, owner)
	if n < 0 {
		b := make([]byte, 0, len(powPrefix)+len(name)+1+len(owner)+8)
		b = append(b, powPrefix...)
		b = append(b, name...)
		b = append(b, 0)
		b = append(b, owner...)
		b = binary.BigEndian.AppendUint64(b, nonce)
		return sha256.Sum256(b)
	}
	binary.BigEndian.PutUint64(buf[n-8:n], nonce)
	return sha256.Sum256(buf[:n])
}

// CheckClaimPoW reports whether nonce is a proof of work of at least
// difficulty leading zero bits for a claim of name by owner. A difficulty of
// zero or less is always met; one above 256 never is.
func CheckClaimPoW(name string, owner ed25519.PublicKey, nonce uint64, difficulty int) bool {
	if difficulty <= 0 {
		return true
	}
	if difficulty > 8*sha256.Size {
		return false
	}
	h := powHash(name, owner, nonce)
	return leadingZeroBits(&h) >= difficulty
}

// SolveClaimPoW finds a nonce that meets difficulty for a claim of name by
// owner, on the calling goroutine, trying nonces in order from a random
// start. It takes 2^difficulty hashes on average (see
// DefaultClaimDifficulty for what that costs) and does not allocate while
// it searches. Difficulties above 64 are not solvable in practice; the
// caller is expected to pass a sane one.
func SolveClaimPoW(name string, owner ed25519.PublicKey, difficulty int) uint64 {
	var seed [8]byte
	rand.Read(seed[:])
	start := binary.BigEndian.Uint64(seed[:])
	if difficulty <= 0 {
		return start
	}
	var buf [maxPoWInput]byte
	n := powInput(&buf, name, owner)
	if n < 0 {
		// A name too long to be valid: no fast path, no point either.
		for nonce := start; ; nonce++ {
			if CheckClaimPoW(name, owner, nonce, difficulty) {
				return nonce
			}
		}
	}
	in := buf[:n]
	ctr := in[n-8 : n]
	for nonce := start; ; nonce++ {
		binary.BigEndian.PutUint64(ctr, nonce)
		h := sha256.Sum256(in)
		if leadingZeroBits(&h) >= difficulty {
			return nonce
		}
	}
}
