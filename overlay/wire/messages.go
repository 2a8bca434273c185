package wire

// Type identifies the kind of message a frame carries.
type Type uint8

// Message types. Values are part of the protocol; never reuse one.
const (
	TypeHello      Type = 1 // peer → supernode: first message on every link
	TypeWelcome    Type = 2 // supernode → peer: login accepted
	TypeRedirect   Type = 3 // supernode → peer: login refused for load, try others
	TypePing       Type = 4 // either way: heartbeat
	TypePong       Type = 5 // answer to Ping
	TypeSupernodes Type = 6 // supernode → peer: fresh supernode addresses
	TypeLinkRole   Type = 7 // leaf → supernode: this link is now primary or standby
	TypeBye        Type = 8 // either way: clean close, with a reason

	TypeStore        Type = 9
	TypeStoreResult  Type = 10
	TypeLookup       Type = 11
	TypeLookupResult Type = 12
	TypeSubscribe    Type = 13
	TypeNotify       Type = 14
	TypeAnnounce     Type = 15
	TypeCandidacy    Type = 16
	TypeDialBack     Type = 17
	TypeEndorsed     Type = 18
	TypeProbe        Type = 19
	TypePromote      Type = 20
	TypeMove         Type = 21

	TypeDeliver       Type = 22
	TypeDeliverResult Type = 23
	TypeMailFetch     Type = 24
	TypeMailResult    Type = 25
	TypeMailAck       Type = 26
	TypeTurnRequest   Type = 27
	TypeTurnResult    Type = 28

	TypeDown  Type = 29 // supernode → supernode: signed notices that supernodes are down
	TypeHave  Type = 30 // supernode → supernode: announcements the sender holds (lazy push)
	TypeWant  Type = 31 // supernode → supernode: send these announcements, and push new ones (graft)
	TypePrune Type = 32 // supernode → supernode: push no more announcements, Have is enough
)

// Role is what a peer says it is in Hello.
type Role uint8

// Roles a peer can present.
const (
	RoleLeaf      Role = 1
	RoleSupernode Role = 2
	RoleProbe     Role = 3 // a verifier dialling a candidate back
)

// Message is any of the message structs of this package.
type Message interface {
	Type() Type
}

// Supernode is a supernode's address as handed between peers.
type Supernode struct {
	ID   []byte `cbor:"1,keyasint"` // 32-byte NodeID
	Addr string `cbor:"2,keyasint"` // host:port of its overlay listener
	Seed bool   `cbor:"3,keyasint,omitempty"`
}

// Hello opens every link. A leaf logs in with RoleLeaf; a supernode joins
// the supernode mesh with RoleSupernode and its listen address.
type Hello struct {
	Role       Role   `cbor:"1,keyasint"`
	Standby    bool   `cbor:"2,keyasint,omitempty"` // leaf: this link is a standby, not the primary
	ListenAddr string `cbor:"3,keyasint,omitempty"` // supernode: where others reach it
	Software   string `cbor:"4,keyasint,omitempty"` // e.g. "parley/0.1.0"
	Seed       bool   `cbor:"5,keyasint,omitempty"` // supernode: it is a seed
	Announced  uint32 `cbor:"6,keyasint,omitempty"` // supernode: announcements it holds (the other sends its own if it holds many more)
}

// Welcome accepts a login.
type Welcome struct {
	Supernodes    []Supernode `cbor:"1,keyasint"`
	ObservedAddr  string      `cbor:"2,keyasint,omitempty"` // the address the supernode sees the peer at
	HeartbeatMS   uint32      `cbor:"3,keyasint"`           // how often the peer must ping
	SupernodeSeed bool        `cbor:"4,keyasint,omitempty"` // the accepting supernode is a seed
	Announced     uint32      `cbor:"5,keyasint,omitempty"` // supernode link: announcements the accepting supernode holds
}

// Redirect refuses a login because the supernode is over its leaf capacity or
// its login rate. The peer should try Supernodes and not come back to this
// one before RetryAfterMS has passed.
type Redirect struct {
	Supernodes   []Supernode `cbor:"1,keyasint"`
	RetryAfterMS uint32      `cbor:"2,keyasint"`
	Reason       string      `cbor:"3,keyasint,omitempty"`
}

// Ping is a heartbeat; the receiver answers with a Pong of the same Seq.
type Ping struct {
	Seq uint64 `cbor:"1,keyasint"`
	// Announced and Digest, between supernodes, are how many
	// announcements the sender holds and a digest of which (their
	// owners and sequence numbers): one that holds more, or as many but
	// others, sends them all (anti-entropy).
	Announced uint32 `cbor:"2,keyasint,omitempty"`
	Digest    uint64 `cbor:"3,keyasint,omitempty"`
}

// Pong answers a Ping.
type Pong struct {
	Seq uint64 `cbor:"1,keyasint"`
}

// Supernodes carries fresh supernode addresses, pushed when the set changes.
type Supernodes struct {
	Supernodes []Supernode `cbor:"1,keyasint"`
}

// LinkRole tells a supernode whether a leaf now uses this link as its primary.
type LinkRole struct {
	Standby bool `cbor:"1,keyasint,omitempty"`
}

// Bye closes a link cleanly.
type Bye struct {
	Reason string `cbor:"1,keyasint,omitempty"`
}

// Type implements Message.
func (*Hello) Type() Type { return TypeHello }

// Type implements Message.
func (*Welcome) Type() Type { return TypeWelcome }

// Type implements Message.
func (*Redirect) Type() Type { return TypeRedirect }

// Type implements Message.
func (*Ping) Type() Type { return TypePing }

// Type implements Message.
func (*Pong) Type() Type { return TypePong }

// Type implements Message.
func (*Supernodes) Type() Type { return TypeSupernodes }

// Type implements Message.
func (*LinkRole) Type() Type { return TypeLinkRole }

// Type implements Message.
func (*Bye) Type() Type { return TypeBye }

// newMessage returns an empty message of type t, or nil for an unknown type.
func newMessage(t Type) Message {
	switch t {
	case TypeHello:
		return new(Hello)
	case TypeWelcome:
		return new(Welcome)
	case TypeRedirect:
		return new(Redirect)
	case TypePing:
		return new(Ping)
	case TypePong:
		return new(Pong)
	case TypeSupernodes:
		return new(Supernodes)
	case TypeLinkRole:
		return new(LinkRole)
	case TypeBye:
		return new(Bye)
	case TypeStore:
		return new(Store)
	case TypeStoreResult:
		return new(StoreResult)
	case TypeLookup:
		return new(Lookup)
	case TypeLookupResult:
		return new(LookupResult)
	case TypeSubscribe:
		return new(Subscribe)
	case TypeNotify:
		return new(Notify)
	case TypeAnnounce:
		return new(Announce)
	case TypeCandidacy:
		return new(Candidacy)
	case TypeDialBack:
		return new(DialBack)
	case TypeEndorsed:
		return new(Endorsed)
	case TypeProbe:
		return new(Probe)
	case TypePromote:
		return new(Promote)
	case TypeDeliver:
		return new(Deliver)
	case TypeDeliverResult:
		return new(DeliverResult)
	case TypeMailFetch:
		return new(MailFetch)
	case TypeMailResult:
		return new(MailResult)
	case TypeMailAck:
		return new(MailAck)
	case TypeTurnRequest:
		return new(TurnRequest)
	case TypeTurnResult:
		return new(TurnResult)
	case TypeMove:
		return new(Move)
	case TypeDown:
		return new(Down)
	case TypeHave:
		return new(Have)
	case TypeWant:
		return new(Want)
	case TypePrune:
		return new(Prune)
	}
	return nil
}

// Type implements Message.
func (*Store) Type() Type { return TypeStore }

// Type implements Message.
func (*StoreResult) Type() Type { return TypeStoreResult }

// Type implements Message.
func (*Lookup) Type() Type { return TypeLookup }

// Type implements Message.
func (*LookupResult) Type() Type { return TypeLookupResult }

// Type implements Message.
func (*Subscribe) Type() Type { return TypeSubscribe }

// Type implements Message.
func (*Notify) Type() Type { return TypeNotify }

// Type implements Message.
func (*Announce) Type() Type { return TypeAnnounce }

// Type implements Message.
func (*Candidacy) Type() Type { return TypeCandidacy }

// Type implements Message.
func (*DialBack) Type() Type { return TypeDialBack }

// Type implements Message.
func (*Endorsed) Type() Type { return TypeEndorsed }

// Type implements Message.
func (*Probe) Type() Type { return TypeProbe }

// Type implements Message.
func (*Promote) Type() Type { return TypePromote }

// Type implements Message.
func (*Move) Type() Type { return TypeMove }

func (m *Welcome) lists() []int    { return []int{len(m.Supernodes)} }
func (m *Redirect) lists() []int   { return []int{len(m.Supernodes)} }
func (m *Supernodes) lists() []int { return []int{len(m.Supernodes)} }
