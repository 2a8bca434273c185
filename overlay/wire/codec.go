package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// Version is the frame version this code writes and accepts.
const Version = 1

// MaxFrame is the largest frame length (the header's N) accepted or written.
const MaxFrame = 256 << 10

// MaxList is the most elements any list in a message may hold. The decoder
// refuses a frame with a longer list, and Append refuses to write one, so a
// sender pages a longer list over several messages (slices.Chunk with
// MaxList). It is part of the protocol: both ends must agree on it.
const MaxList = 1024

// headerLen is the length prefix plus version and type bytes.
const headerLen = 6

// lister is a message that carries lists; lists returns their lengths.
type lister interface {
	lists() []int
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		MaxNestedLevels:  8,
		MaxArrayElements: MaxList,
		MaxMapPairs:      64,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Append appends m, framed, to b.
// A message with a list over MaxList is refused with ErrListTooLong, and one
// over MaxFrame with ErrFrameSize: what the decoder would refuse is never
// written.
func Append(b []byte, m Message) ([]byte, error) {
	if l, ok := m.(lister); ok {
		for _, n := range l.lists() {
			if n > MaxList {
				return b, fmt.Errorf("%w: %T has %d elements", ErrListTooLong, m, n)
			}
		}
	}
	body, err := encMode.Marshal(m)
	if err != nil {
		return b, fmt.Errorf("wire: encode %T: %w", m, err)
	}
	n := len(body) + 2
	if n > MaxFrame {
		return b, fmt.Errorf("%w: %T is %d bytes", ErrFrameSize, m, n)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, Version, byte(m.Type()))
	return append(b, body...), nil
}

// Write writes m as one frame to w in a single Write call.
func Write(w io.Writer, m Message) error {
	b, err := Append(nil, m)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Read reads one frame from r and decodes its message. An io.EOF before the
// first byte of a frame is returned as io.EOF; a frame cut short is
// io.ErrUnexpectedEOF. buf, if large enough, is used to hold the body.
func Read(r io.Reader, buf []byte) (Message, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n < 2 || n > MaxFrame {
		return nil, fmt.Errorf("%w: %d", ErrFrameSize, n)
	}
	if _, err := io.ReadFull(r, hdr[4:]); err != nil {
		return nil, noEOF(err)
	}
	body := buf
	if cap(body) < int(n-2) {
		body = make([]byte, n-2)
	}
	body = body[:n-2]
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, noEOF(err)
	}
	return Decode(hdr[4], Type(hdr[5]), body)
}

// Decode decodes a frame's body given its version and type bytes.
func Decode(version byte, t Type, body []byte) (Message, error) {
	if version != Version {
		return nil, fmt.Errorf("%w: %d", ErrVersion, version)
	}
	m := newMessage(t)
	if m == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, t)
	}
	if err := decMode.Unmarshal(body, m); err != nil {
		return nil, fmt.Errorf("%w: type %d: %v", ErrBody, t, err)
	}
	return m, nil
}

// Skippable reports whether err, from Read, is a frame that was read whole
// but not understood: a message type this code does not know (a newer peer's)
// or a body that does not decode (a list over MaxList, a wrong field type).
// The stream is still in step after such a frame, so a link can refuse that
// frame alone and go on; a bad length or version leaves it out of step.
func Skippable(err error) bool {
	return errors.Is(err, ErrBody) || errors.Is(err, ErrUnknownType)
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
