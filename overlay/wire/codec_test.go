package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func sampleMessages() []Message {
	id := bytes.Repeat([]byte{7}, 32)
	sns := []Supernode{{ID: id, Addr: "192.0.2.1:4717", Seed: true}, {ID: id, Addr: "[2001:db8::1]:4717"}}
	rec := Record{Kind: KindPresence, Owner: id, Seq: 5, Issued: 1000, Expires: 2000, Body: []byte{0xa0}, Sig: id}
	end := Endorsement{Candidate: id, Addr: "192.0.2.7:4717", Verifier: id, Issued: 1, Expires: 2, Sig: id}
	return []Message{
		&Hello{Role: RoleLeaf, Standby: true, Software: "parley/test"},
		&Hello{Role: RoleSupernode, ListenAddr: "198.51.100.2:4717", Seed: true},
		&Welcome{Supernodes: sns, ObservedAddr: "203.0.113.9:50000", HeartbeatMS: 15000, SupernodeSeed: true},
		&Redirect{Supernodes: sns, RetryAfterMS: 30000, Reason: "over capacity"},
		&Ping{Seq: 1<<63 + 5},
		&Pong{Seq: 42},
		&Supernodes{Supernodes: sns},
		&LinkRole{Standby: true},
		&Bye{Reason: "shutting down"},
		&Store{ReqID: 1, Record: rec, Replica: true},
		&StoreResult{ReqID: 1, Code: StoreNameTaken, Reason: "taken"},
		&Lookup{ReqID: 2, Key: id, Direct: true},
		&LookupResult{ReqID: 2, Records: []Record{rec}, Hops: 2},
		&Subscribe{Keys: [][]byte{id, id}, Unsub: true},
		&Notify{Key: id, Record: &rec},
		&Notify{Key: id},
		&Announce{Record: rec},
		&Candidacy{ReqID: 3, Addr: "192.0.2.7:4717", UptimeS: 3600, Spare: true, DemotedS: 5},
		&DialBack{ReqID: 4, Candidate: id, Addr: "192.0.2.7:4717"},
		&Endorsed{ReqID: 4, Endorsements: []Endorsement{end}},
		&Probe{Nonce: 99},
		&Promote{Endorsements: []Endorsement{end, end}},
		&Move{Supernode: sns[0]},
		&Down{Notices: []DownNotice{{Node: id, Seq: 7, Signer: make([]byte, 32), Issued: 1, Expires: 2, Sig: make([]byte, 64)}}},
		&Announce{Record: rec, Push: true},
		&Have{Announces: []AnnounceRef{{Node: id, Seq: 1<<40 + 3}}},
		&Want{Nodes: [][]byte{id, id}},
		&Prune{},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		var buf bytes.Buffer
		if err := Write(&buf, m); err != nil {
			t.Fatalf("Write(%T): %v", m, err)
		}
		got, err := Read(&buf, nil)
		if err != nil {
			t.Fatalf("Read(%T): %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip %T: got %+v, want %+v", m, got, m)
		}
		if buf.Len() != 0 {
			t.Errorf("%T: %d bytes left after one frame", m, buf.Len())
		}
	}
}

func frame(version byte, typ Type, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(body)+2))
	b = append(b, version, byte(typ))
	return append(b, body...)
}

func TestReadRejects(t *testing.T) {
	good, _ := Append(nil, &Ping{Seq: 1})
	huge := binary.BigEndian.AppendUint32(nil, MaxFrame+1)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"short length", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"length zero", []byte{0, 0, 0, 0}, ErrFrameSize},
		{"length one", []byte{0, 0, 0, 1, 1}, ErrFrameSize},
		{"length over max", huge, ErrFrameSize},
		{"cut body", good[:len(good)-1], io.ErrUnexpectedEOF},
		{"cut header", good[:5], io.ErrUnexpectedEOF},
		{"version 0", frame(0, TypePing, good[6:]), ErrVersion},
		{"version 2", frame(2, TypePing, good[6:]), ErrVersion},
		{"unknown type", frame(Version, 200, good[6:]), ErrUnknownType},
		{"not cbor", frame(Version, TypePing, []byte{0xff, 0x00}), ErrBody},
		{"trailing bytes", frame(Version, TypePing, append(append([]byte{}, good[6:]...), 0)), ErrBody},
		{"wrong field type", frame(Version, TypePing, []byte{0xa1, 0x01, 0x61, 'x'}), ErrBody},
		{"duplicate key", frame(Version, TypePing, []byte{0xa2, 0x01, 0x01, 0x01, 0x02}), ErrBody},
		{"indefinite length", frame(Version, TypeBye, []byte{0xbf, 0x01, 0x60, 0xff}), ErrBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Read(bytes.NewReader(tt.in), nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read = %v, %v; want error %v", m, err, tt.want)
			}
		})
	}
}

func TestUnknownFieldsIgnored(t *testing.T) {
	// {1: 9, 99: "future"} decodes as Ping{Seq: 9}: later versions may add keys.
	body := []byte{0xa2, 0x01, 0x09, 0x18, 99, 0x66, 'f', 'u', 't', 'u', 'r', 'e'}
	m, err := Read(bytes.NewReader(frame(Version, TypePing, body)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := m.(*Ping); !ok || p.Seq != 9 {
		t.Fatalf("got %#v, want Ping{Seq: 9}", m)
	}
}

func TestOversizedMessageNotWritten(t *testing.T) {
	big := &Bye{Reason: string(bytes.Repeat([]byte{'a'}, MaxFrame))}
	var buf bytes.Buffer
	if err := Write(&buf, big); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("Write = %v, want ErrFrameSize", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("%d bytes written for a refused message", buf.Len())
	}
}

func TestArrayBound(t *testing.T) {
	// A Supernodes message claiming 100000 entries is refused before allocation.
	body := []byte{0xa1, 0x01, 0x9a, 0x00, 0x01, 0x86, 0xa0}
	if _, err := Read(bytes.NewReader(frame(Version, TypeSupernodes, body)), nil); !errors.Is(err, ErrBody) {
		t.Fatalf("Read = %v, want ErrBody", err)
	}
}

// FuzzRead feeds arbitrary bytes to the frame reader. It must never panic;
// whatever it accepts must encode again and decode to the same message.
func FuzzRead(f *testing.F) {
	for _, m := range sampleMessages() {
		b, _ := Append(nil, m)
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0, 2, 1, 4})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			m, err := Read(r, nil)
			if err != nil {
				return
			}
			b, err := Append(nil, m)
			if err != nil {
				t.Fatalf("re-encode %T: %v", m, err)
			}
			m2, err := Read(bytes.NewReader(b), nil)
			if err != nil {
				t.Fatalf("re-decode %T: %v", m, err)
			}
			// Stable: the canonical encoding comes back the same. (Go values
			// may differ where CBOR does not: an empty list and none.)
			b2, err := Append(nil, m2)
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("unstable: %#v encodes as %x, then %#v as %x (%v)", m, b, m2, b2, err)
			}
			if reflect.TypeOf(m) != reflect.TypeOf(m2) {
				t.Fatalf("unstable: %T came back as %T", m, m2)
			}
		}
	})
}

// TestListsOverMaxListAreNeverWritten checks that every message with a list
// round-trips at MaxList elements, that Append refuses one more (the
// decoder would refuse it, and the peer would lose the whole message), and
// that a frame someone else wrote with one more is Skippable: refused
// alone, with the stream still in step.
func TestListsOverMaxListAreNeverWritten(t *testing.T) {
	id := bytes.Repeat([]byte{7}, 32)
	sn := Supernode{ID: id, Addr: "192.0.2.1:4717"}
	for _, n := range []int{MaxList, MaxList + 1} {
		sns := make([]Supernode, n)
		keys := make([][]byte, n)
		ids := make([][]byte, n)
		versions := make([]AnnounceRef, n)
		for i := range n {
			sns[i], keys[i], ids[i], versions[i] = sn, id, id[:16], AnnounceRef{Node: id, Seq: uint64(i)}
		}
		for _, m := range []Message{
			&Welcome{Supernodes: sns}, &Redirect{Supernodes: sns}, &Supernodes{Supernodes: sns},
			&Subscribe{Keys: keys}, &MailAck{IDs: ids}, &Want{Nodes: keys},
			&Have{Announces: versions},
		} {
			b, err := Append(nil, m)
			if n <= MaxList {
				if err != nil {
					t.Fatalf("%T with %d elements: %v", m, n, err)
				}
				if _, err := Read(bytes.NewReader(b), nil); err != nil {
					t.Fatalf("%T with %d elements does not read back: %v", m, n, err)
				}
				continue
			}
			if !errors.Is(err, ErrListTooLong) {
				t.Fatalf("%T with %d elements: Append gave %v, want ErrListTooLong", m, n, err)
			}
			// Written by hand, as an older or hostile peer would: the frame
			// is refused alone and the next one still reads.
			body, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var frame []byte
			frame = binary.BigEndian.AppendUint32(frame, uint32(len(body)+2))
			frame = append(frame, Version, byte(m.Type()))
			frame = append(frame, body...)
			frame, _ = Append(frame, &Ping{Seq: 7})
			r := bytes.NewReader(frame)
			if _, err := Read(r, nil); !Skippable(err) {
				t.Fatalf("%T with %d elements read as %v, want a skippable error", m, n, err)
			}
			if got, err := Read(r, nil); err != nil || got.(*Ping).Seq != 7 {
				t.Fatalf("frame after a refused %T: %v, %v", m, got, err)
			}
		}
	}
}

// TestTwentyThousandSupernodesRoundTrip pages a list of 20,000 supernodes
// (each with a long address) into messages that all write and read back,
// in order, each under the frame and list limits.
func TestTwentyThousandSupernodesRoundTrip(t *testing.T) {
	list := make([]Supernode, 20_000)
	for i := range list {
		id := make([]byte, 32)
		binary.BigEndian.PutUint32(id, uint32(i))
		list[i] = Supernode{ID: id, Addr: strings.Repeat("h", 200) + ".example:4717", Seed: i%7 == 0}
	}
	var buf bytes.Buffer
	pages := Pages(list, SupernodeSize)
	for i, p := range pages {
		var m Message = &Supernodes{Supernodes: p}
		if i == 0 {
			m = &Welcome{Supernodes: p, HeartbeatMS: 15000}
		}
		if err := Write(&buf, m); err != nil {
			t.Fatalf("page %d of %d (%d entries): %v", i, len(pages), len(p), err)
		}
	}
	var got []Supernode
	for {
		m, err := Read(&buf, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case *Welcome:
			got = append(got, m.Supernodes...)
		case *Supernodes:
			got = append(got, m.Supernodes...)
		}
	}
	if !reflect.DeepEqual(got, list) {
		t.Fatalf("read back %d supernodes, want the 20000 sent in order", len(got))
	}
	if Pages[Supernode](nil, SupernodeSize) != nil {
		t.Fatal("an empty list gave pages")
	}
}
