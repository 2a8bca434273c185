package wire

import "errors"

var (
	// ErrFrameSize is returned for a length prefix outside [2, MaxFrame].
	ErrFrameSize = errors.New("wire: frame length out of bounds")
	// ErrVersion is returned for a frame of a protocol version this code does not speak.
	ErrVersion = errors.New("wire: unsupported protocol version")
	// ErrUnknownType is returned for a frame whose message type is not known.
	ErrUnknownType = errors.New("wire: unknown message type")
	// ErrBody is returned when a frame's body does not decode as its message type.
	ErrBody = errors.New("wire: malformed message body")
	// ErrListTooLong is returned by Append for a message with a list of
	// more than MaxList elements, which no peer would decode.
	ErrListTooLong = errors.New("wire: list longer than MaxList")
)
