package chat

import (
	"fmt"

	"github.com/parleynet/parley/overlay/wire"
)

// Kinds of chat's letters (the envelope's Kind), in chat's range 1–63 of
// the letters package. Values are part of the protocol; never reuse one.
const (
	KindRequest    uint8 = 1 // a contact request
	KindResponse   uint8 = 2 // the answer to one: accepted or declined
	KindRemoved    uint8 = 3 // the sender removed or blocked us
	KindMessage    uint8 = 4 // a chat message
	KindReceipt    uint8 = 5 // delivery or read receipts
	KindTyping     uint8 = 6 // typing indicator
	KindSignal     uint8 = 7 // WebRTC signaling for the chat data channel
	KindLinkInvite uint8 = 8 // please offer a data channel (from the higher node ID)
)

// Request asks the recipient to become a contact. Name is the sender's
// username: the recipient checks that the directory's claim for it names
// the sender's key.
type Request struct {
	Name    string `cbor:"1,keyasint"`
	Message string `cbor:"2,keyasint,omitempty"`
}

// Response answers a Request.
type Response struct {
	Accepted bool   `cbor:"1,keyasint"`
	Name     string `cbor:"2,keyasint"`
}

// Message is one chat message. ID is chosen by its author; (author, ID)
// identifies it everywhere, so that a retried message shows once.
type Message struct {
	ID   []byte `cbor:"1,keyasint"` // 16 bytes
	Body string `cbor:"2,keyasint"`
	Sent int64  `cbor:"3,keyasint"` // author's clock, unix ms
}

// Receipt acknowledges messages: delivered (stored by the recipient's
// app) or read (shown to the user).
type Receipt struct {
	IDs  [][]byte `cbor:"1,keyasint"`
	Read bool     `cbor:"2,keyasint,omitempty"`
}

// Typing says whether the sender is typing.
type Typing struct {
	On bool `cbor:"1,keyasint"`
}

// frame is what travels over the chat data channel: one of the payloads,
// with its kind. Over the channel (DTLS, with fingerprints signed in the
// sealed signaling) nothing is sealed again.
type frame struct {
	Kind uint8  `cbor:"1,keyasint"`
	Body []byte `cbor:"2,keyasint"`
}

// Limits.
const (
	// MaxBody is the largest chat message text, in bytes. A data-channel
	// message of pion/webrtc v3 is limited to 64 KiB and a sealed envelope
	// to 60 KiB of payload; a longer text is refused with ErrTooLong rather
	// than split (a messenger's message is not a file transfer).
	MaxBody = 32 << 10
	// MaxRequestMessage is the longest contact-request text.
	MaxRequestMessage = 500
)

func encode(v any) ([]byte, error) {
	b, err := wire.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("chat: encoding %T: %w", v, err)
	}
	return b, nil
}

func decode(b []byte, v any) error {
	if err := wire.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %T: %v", ErrMalformed, v, err)
	}
	return nil
}
