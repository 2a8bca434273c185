package wire

// Messages of envelope routing and mailboxes. An envelope is opaque here:
// sealed end to end (see overlay/envelope), a supernode sees only whom it
// is for and which leaf handed it in.

// How a Deliver travels.
const (
	// DeliverRoute: leaf → its supernode, which finds the recipient.
	DeliverRoute uint8 = 0
	// DeliverToLeaf: supernode → the recipient's supernode (hand it to your
	// leaf To), and supernode → leaf (here it is).
	DeliverToLeaf uint8 = 1
	// DeliverStore: supernode → a holder of the recipient's records: keep it
	// in the recipient's mailbox.
	DeliverStore uint8 = 2
)

// Result codes of a Deliver.
const (
	DeliverDelivered   uint8 = 0 // the recipient's peer has it
	DeliverStored      uint8 = 1 // kept in the recipient's mailbox (Copies holders)
	DeliverOffline     uint8 = 2 // DeliverToLeaf: the recipient is not logged in here
	DeliverRefused     uint8 = 3 // too big, malformed, or over the sender's quota
	DeliverUnavailable uint8 = 4 // neither the recipient nor any holder could be reached
)

// Deliver carries one sealed envelope. From is the NodeID of the leaf that
// handed it in, as its supernode authenticated it (a leaf's own value is
// replaced); it serves quotas, not trust: the envelope's signature does.
type Deliver struct {
	ReqID  uint64 `cbor:"1,keyasint"`
	Mode   uint8  `cbor:"2,keyasint"`
	To     []byte `cbor:"3,keyasint"` // recipient NodeID, 32 bytes
	From   []byte `cbor:"4,keyasint,omitempty"`
	Data   []byte `cbor:"5,keyasint"`
	Stored int64  `cbor:"6,keyasint,omitempty"` // DeliverStore: unix ms it was first stored (re-replication keeps it)
}

// DeliverResult answers a Deliver.
type DeliverResult struct {
	ReqID  uint64 `cbor:"1,keyasint"`
	Code   uint8  `cbor:"2,keyasint"`
	Copies uint8  `cbor:"3,keyasint,omitempty"` // DeliverStored: holders that keep it
	Reason string `cbor:"4,keyasint,omitempty"`
}

// MailFetch asks for the asker's mailbox: from a leaf to its supernode,
// which asks the holders (For set, from a supernode to a holder).
type MailFetch struct {
	ReqID uint64 `cbor:"1,keyasint"`
	For   []byte `cbor:"2,keyasint,omitempty"`
}

// Mail is one envelope waiting in a mailbox. ID is the first 16 bytes of
// SHA-256(Data), the same on every holder.
type Mail struct {
	ID     []byte `cbor:"1,keyasint"`
	From   []byte `cbor:"2,keyasint,omitempty"`
	Data   []byte `cbor:"3,keyasint"`
	Stored int64  `cbor:"4,keyasint"`
}

// MailResult answers a MailFetch with up to a frame's worth of mail, oldest
// first; More says there is more after these are acknowledged.
type MailResult struct {
	ReqID       uint64 `cbor:"1,keyasint"`
	Mail        []Mail `cbor:"2,keyasint,omitempty"`
	More        bool   `cbor:"3,keyasint,omitempty"`
	Unavailable bool   `cbor:"4,keyasint,omitempty"`
}

// MailAck tells that mail was received, so that the holders delete it:
// from a leaf to its supernode, which passes it on with For set.
type MailAck struct {
	IDs [][]byte `cbor:"1,keyasint"`
	For []byte   `cbor:"2,keyasint,omitempty"`
}

// Type implements Message.
func (*Deliver) Type() Type { return TypeDeliver }

// Type implements Message.
func (*DeliverResult) Type() Type { return TypeDeliverResult }

// Type implements Message.
func (*MailFetch) Type() Type { return TypeMailFetch }

// Type implements Message.
func (*MailResult) Type() Type { return TypeMailResult }

// Type implements Message.
func (*MailAck) Type() Type { return TypeMailAck }

// TurnRequest asks a leaf's supernode for STUN/TURN servers and
// credentials.
type TurnRequest struct {
	ReqID uint64 `cbor:"1,keyasint"`
}

// TurnResult answers a TurnRequest: no URLs when the supernode offers none.
type TurnResult struct {
	ReqID    uint64   `cbor:"1,keyasint"`
	URLs     []string `cbor:"2,keyasint,omitempty"`
	Username string   `cbor:"3,keyasint,omitempty"`
	Password string   `cbor:"4,keyasint,omitempty"`
	Expires  int64    `cbor:"5,keyasint,omitempty"` // unix ms
}

// Type implements Message.
func (*TurnRequest) Type() Type { return TypeTurnRequest }

// Type implements Message.
func (*TurnResult) Type() Type { return TypeTurnResult }

func (m *MailResult) lists() []int { return []int{len(m.Mail)} }
func (m *MailAck) lists() []int    { return []int{len(m.IDs)} }
func (m *TurnResult) lists() []int { return []int{len(m.URLs)} }
