package overlay

import (
	"fmt"
	"net"
	"strings"

	"github.com/parleynet/parley/overlay/identity"
)

// DefaultPort is the overlay's TCP port (and, from the NAT-traversal work on,
// the STUN/TURN UDP port) unless configured otherwise.
const DefaultPort = 4717

// DefaultSeeds are the project's own seed supernodes, used only by a peer
// whose host cache has no supernode that answers. --seeds and PARLEY_SEEDS
// override them.
var DefaultSeeds = []string{
	"seed1.parley.chat:4717",
	"seed2.parley.chat:4717",
	"seed3.parley.chat:4717",
}

// SeedAddr is a seed's address and, when known, its NodeID. A seed dialled
// without a NodeID is accepted whatever key it presents (its key is learned,
// not checked); with one, a different key is refused.
type SeedAddr struct {
	Addr string
	ID   identity.NodeID
}

// String formats the seed the way ParseSeeds reads it.
func (s SeedAddr) String() string {
	if s.ID.IsZero() {
		return s.Addr
	}
	return s.ID.String() + "@" + s.Addr
}

// ParseSeeds parses a comma-separated list of seeds, each "host:port" or
// "NODEID@host:port" (NODEID in hex). Empty items are skipped.
func ParseSeeds(list string) ([]SeedAddr, error) {
	var seeds []SeedAddr
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var s SeedAddr
		if id, addr, ok := strings.Cut(item, "@"); ok {
			nid, err := identity.ParseNodeID(id)
			if err != nil {
				return nil, fmt.Errorf("%w %q: %v", ErrBadSeed, item, err)
			}
			s.ID, item = nid, addr
		}
		host, port, err := net.SplitHostPort(item)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("%w %q: want host:port", ErrBadSeed, item)
		}
		s.Addr = item
		seeds = append(seeds, s)
	}
	return seeds, nil
}

// MustParseSeeds is ParseSeeds for lists known to be valid, such as DefaultSeeds.
func MustParseSeeds(list []string) []SeedAddr {
	s, err := ParseSeeds(strings.Join(list, ","))
	if err != nil {
		panic(err)
	}
	return s
}
