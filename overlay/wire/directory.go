package wire

// Messages of the directory, presence and election protocols. Requests carry
// a ReqID chosen by the sender; the answer echoes it, so that several
// requests can be in flight on one link.

// Result codes of a Store.
const (
	StoreOK          uint8 = 0
	StoreBadRecord   uint8 = 1 // invalid: signature, size, expiry, proof of work, …
	StoreStale       uint8 = 2 // an older or replayed sequence number
	StoreNameTaken   uint8 = 3 // a valid claim by another key holds the name
	StoreUnavailable uint8 = 4 // no holder could be reached
)

// Store asks a supernode to store a record: from a leaf, its supernode
// routes it to the record's holders; between supernodes, Replica is set and
// the receiver stores it only if it holds the key.
type Store struct {
	ReqID   uint64 `cbor:"1,keyasint"`
	Record  Record `cbor:"2,keyasint"`
	Replica bool   `cbor:"3,keyasint,omitempty"`
}

// StoreResult answers a Store.
type StoreResult struct {
	ReqID  uint64 `cbor:"1,keyasint"`
	Code   uint8  `cbor:"2,keyasint"`
	Reason string `cbor:"3,keyasint,omitempty"`
}

// Lookup asks for the records under Key. From a leaf, its supernode asks
// the key's holders (Direct set), which answer from what they store.
type Lookup struct {
	ReqID  uint64 `cbor:"1,keyasint"`
	Key    []byte `cbor:"2,keyasint"`
	Direct bool   `cbor:"3,keyasint,omitempty"`
}

// LookupResult answers a Lookup. Hops is how many supernodes the lookup
// took past the asker's own (1: the asked supernode held it; 2: it asked a
// holder). Unavailable reports that no holder answered.
type LookupResult struct {
	ReqID       uint64   `cbor:"1,keyasint"`
	Records     []Record `cbor:"2,keyasint,omitempty"`
	Hops        uint8    `cbor:"3,keyasint"`
	Unavailable bool     `cbor:"4,keyasint,omitempty"`
}

// Subscribe asks to be told of changes to the records under Keys: from a
// leaf to its supernode, and from that supernode to the keys' holders.
type Subscribe struct {
	Keys  [][]byte `cbor:"1,keyasint"`
	Unsub bool     `cbor:"2,keyasint,omitempty"`
}

// Notify tells a subscriber that the record under Key changed. A nil Record
// means it expired or was removed (for presence: the peer is offline).
type Notify struct {
	Key    []byte  `cbor:"1,keyasint"`
	Record *Record `cbor:"2,keyasint,omitempty"`
}

// DownNotice is a supernode's signed statement that supernode Node, as of
// its announcement Seq, is down: a ring neighbour's link to it failed and
// a dial back failed, or (Signer is Node's own key) it is leaving. A
// newer announcement of Node voids it.
type DownNotice struct {
	Node    []byte `cbor:"1,keyasint"` // NodeID
	Seq     uint64 `cbor:"2,keyasint"` // of Node's announcement
	Signer  []byte `cbor:"3,keyasint"` // ed25519 public key of the supernode that says so
	Issued  int64  `cbor:"4,keyasint"` // unix milliseconds
	Expires int64  `cbor:"5,keyasint"`
	Sig     []byte `cbor:"6,keyasint"`
}

// Down gossips down notices between supernodes.
type Down struct {
	Notices []DownNotice `cbor:"1,keyasint"`
}

// Type implements Message.
func (*Down) Type() Type { return TypeDown }

// Announce gossips a supernode's signed announcement (a KindAnnounce record).
type Announce struct {
	Record Record `cbor:"1,keyasint"`
	// Push says the sender passed it on down the dissemination tree: a
	// receiver that already had it answers Prune, and the link carries
	// only Have from then on. An announcement sent on request (Want) or to
	// bring a view up to date is not pushed.
	Push bool `cbor:"2,keyasint,omitempty"`
}

// AnnounceRef names one announcement: its supernode and sequence number.
type AnnounceRef struct {
	Node []byte `cbor:"1,keyasint"` // NodeID
	Seq  uint64 `cbor:"2,keyasint"`
}

// AnnounceRefSize estimates an AnnounceRef's encoded size, for Pages.
func AnnounceRefSize(v AnnounceRef) int { return len(v.Node) + 12 }

// Have tells a linked supernode which announcements the sender holds,
// and which supernodes it holds for down as of which announcement (by
// notices that count): the lazy half of the dissemination tree. One that
// lacks either after a short wait asks for it with Want.
type Have struct {
	Announces []AnnounceRef `cbor:"1,keyasint,omitempty"`
	Downs     []AnnounceRef `cbor:"2,keyasint,omitempty"`
}

// Want asks for the announcements of Nodes and the down notices about
// Downs (NodeIDs), and grafts the link into the dissemination tree: the
// other end pushes new ones over it again.
type Want struct {
	Nodes [][]byte `cbor:"1,keyasint,omitempty"`
	Downs [][]byte `cbor:"2,keyasint,omitempty"`
}

// Prune takes the link out of the dissemination tree: the sender had what
// was pushed to it, so the other end tells it of new announcements by
// Have only.
type Prune struct{}

// Type implements Message.
func (*Have) Type() Type { return TypeHave }

// Type implements Message.
func (*Want) Type() Type { return TypeWant }

// Type implements Message.
func (*Prune) Type() Type { return TypePrune }

// Candidacy is a leaf's offer to serve as a supernode, sent to its primary
// supernode, which answers with Endorsed once others have dialled it back.
type Candidacy struct {
	ReqID    uint64 `cbor:"1,keyasint"`
	Addr     string `cbor:"2,keyasint"` // where it listens (TCP and UDP), as it knows it
	UptimeS  uint32 `cbor:"3,keyasint"`
	Spare    bool   `cbor:"4,keyasint,omitempty"` // CPU, memory and bandwidth to spare
	OptOut   bool   `cbor:"5,keyasint,omitempty"` // the user switched the role off
	DemotedS uint32 `cbor:"6,keyasint,omitempty"` // seconds since it was last demoted, 0 if never
}

// DialBack asks a supernode to verify that Candidate is reachable at Addr
// over TCP and UDP and, if so, to sign an endorsement.
type DialBack struct {
	ReqID     uint64 `cbor:"1,keyasint"`
	Candidate []byte `cbor:"2,keyasint"`
	Addr      string `cbor:"3,keyasint"`
}

// Endorsed answers a Candidacy or a DialBack with the endorsements made.
type Endorsed struct {
	ReqID        uint64        `cbor:"1,keyasint"`
	Endorsements []Endorsement `cbor:"2,keyasint,omitempty"`
	Reason       string        `cbor:"3,keyasint,omitempty"` // why none, if none
}

// Probe is the only message a verifier sends on a dial-back link; the
// candidate answers with the same Nonce.
type Probe struct {
	Nonce uint64 `cbor:"1,keyasint"`
}

// Promote tells a leaf it has been elected: it should start serving as a
// supernode, announcing these endorsements.
type Promote struct {
	Endorsements []Endorsement `cbor:"1,keyasint"`
}

// Move asks a leaf to make Supernode its primary (load balancing after a
// promotion, or before a demotion).
type Move struct {
	Supernode Supernode `cbor:"1,keyasint"`
}

func (m *LookupResult) lists() []int { return []int{len(m.Records)} }
func (m *Subscribe) lists() []int    { return []int{len(m.Keys)} }
func (m *Endorsed) lists() []int     { return []int{len(m.Endorsements)} }
func (m *Promote) lists() []int      { return []int{len(m.Endorsements)} }
func (m *Have) lists() []int         { return []int{len(m.Announces), len(m.Downs)} }
func (m *Want) lists() []int         { return []int{len(m.Nodes), len(m.Downs)} }
