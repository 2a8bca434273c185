package wire

// Marshal encodes v with the package's CBOR encoding: core deterministic
// encoding (RFC 8949 §4.2.1: shortest forms, map keys sorted), so the same
// value always gives the same bytes. Signatures over records and
// endorsements are computed over these bytes.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// Unmarshal decodes b into v with the package's bounded CBOR decoder, the
// one frames are read with: limited nesting, array and map sizes, no
// duplicate map keys, no indefinite lengths, no tags, valid UTF-8 only, and
// no bytes left over after the value.
func Unmarshal(b []byte, v any) error { return decMode.Unmarshal(b, v) }
