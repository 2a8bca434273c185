// Package wire is the overlay's frame and message codec. It knows nothing of
// sockets: it reads frames from an io.Reader and writes them to an io.Writer,
// so tests and fuzzers drive it with plain bytes.
//
// # Frame layout
//
// Every message on a link is one frame:
//
//	offset  size  field
//	0       4     length N of the rest of the frame, big-endian; 2 ≤ N ≤ MaxFrame
//	4       1     protocol version, currently 1
//	5       1     message type (the Type constants)
//	6       N-2   body: the message as a CBOR map with small-integer keys
//
// A frame of an unknown version or a length outside the bounds leaves the
// stream out of step: the link that read it is closed with that reason. A
// frame read whole whose type is unknown, or whose body does not decode (or
// decodes with trailing bytes), is refused alone (Skippable): the link logs
// it and goes on. Unknown keys inside a body are ignored, so later versions
// may add fields without a version change.
//
// CBOR decoding is bounded (array length, map size, nesting depth), so a
// hostile frame cannot make the decoder allocate more than the frame's size
// in structures. No list in a message holds more than MaxList elements:
// Append refuses to write one, and senders page longer lists (Pages).
package wire
