package wire

// Kind is the kind of a directory record.
type Kind uint8

// Record kinds. Values are part of the protocol.
const (
	KindClaim    Kind = 1 // a username claim: ClaimBody
	KindPresence Kind = 2 // a peer's presence: PresenceBody
	KindAnnounce Kind = 3 // a supernode's announcement: AnnounceBody
)

// Record is a signed, sequence-numbered, expiring statement by its owner,
// stored in the directory. Sig is the owner's ed25519 signature over the
// record's signing bytes (see overlay/record.Sign). What Body holds depends
// on Kind; it is CBOR, like everything on the wire.
type Record struct {
	Kind    Kind   `cbor:"1,keyasint"`
	Owner   []byte `cbor:"2,keyasint"` // ed25519 public key, 32 bytes
	Seq     uint64 `cbor:"3,keyasint"`
	Issued  int64  `cbor:"4,keyasint"` // unix milliseconds
	Expires int64  `cbor:"5,keyasint"` // unix milliseconds
	Body    []byte `cbor:"6,keyasint"`
	Sig     []byte `cbor:"7,keyasint"`
}

// ClaimBody is the body of a username claim: the case-folded name and the
// proof-of-work nonce that makes claiming names in bulk expensive.
type ClaimBody struct {
	Name  string `cbor:"1,keyasint"`
	Nonce uint64 `cbor:"2,keyasint"`
}

// Presence statuses.
const (
	StatusOnline  uint8 = 1
	StatusAway    uint8 = 2
	StatusOffline uint8 = 3
)

// PresenceBody is the body of a presence record: the status and the
// supernodes through which the peer can be reached.
type PresenceBody struct {
	Status     uint8       `cbor:"1,keyasint"`
	Supernodes []Supernode `cbor:"2,keyasint,omitempty"`
}

// Endorsement is a supernode's signed statement that it dialled a candidate
// back at Addr over TCP and UDP and reached it.
type Endorsement struct {
	Candidate []byte `cbor:"1,keyasint"` // NodeID of the candidate
	Addr      string `cbor:"2,keyasint"`
	Verifier  []byte `cbor:"3,keyasint"` // ed25519 public key of the verifying supernode
	Issued    int64  `cbor:"4,keyasint"` // unix milliseconds
	Expires   int64  `cbor:"5,keyasint"`
	Sig       []byte `cbor:"6,keyasint"`
}

// AnnounceBody is the body of a supernode's announcement.
type AnnounceBody struct {
	Addr         string        `cbor:"1,keyasint"`
	Seed         bool          `cbor:"2,keyasint,omitempty"`
	Leaves       uint32        `cbor:"3,keyasint"` // primary leaves held now
	Capacity     uint32        `cbor:"4,keyasint"` // MaxLeaves
	Endorsements []Endorsement `cbor:"5,keyasint,omitempty"`
}
