package app

import (
	"time"

	"github.com/parleynet/parley/overlay"
)

// Role is a peer's role in the network.
type Role string

// Roles.
const (
	RoleLeaf      Role = "leaf"
	RoleSupernode Role = "supernode"
	RoleSeed      Role = "seed"
)

// LeafState is where a peer's login to the network stands.
type LeafState string

// Leaf states.
const (
	StateConnecting LeafState = "connecting"
	StateOnline     LeafState = "online"
	StateStopped    LeafState = "stopped"
)

// LinkInfo is one of the peer's links to a supernode.
type LinkInfo struct {
	ID    string // the supernode's node ID, hex
	Addr  string
	Seed  bool // a seed, not an elected supernode
	Since time.Time
}

// Short returns the first bytes of the supernode's node ID, for people.
func (l LinkInfo) Short() string { return l.ID[:min(len(l.ID), 12)] }

func linkInfo(l overlay.LinkInfo) LinkInfo {
	return LinkInfo{ID: l.ID.String(), Addr: l.Addr, Seed: l.Seed, Since: l.Since}
}

// SupernodeStats are a supernode's counters (a seed's /metrics).
type SupernodeStats struct {
	Leaves           int    // leaf links held (primary and standby)
	PrimaryLeaves    int    // leaf links that are their leaf's primary
	Supernodes       int    // other supernodes linked in the mesh
	LinksOpen        int64  // authenticated links open, leaves and supernodes
	LoginsAccepted   uint64 // leaf logins welcomed
	LoginsRedirected uint64 // leaf logins turned away for capacity or rate
	HandshakeErrors  uint64 // connections that failed TLS or Hello
	View             int    // supernodes in the view (holding records), itself included
	Records          int    // directory records held here
	Promotions       uint64 // leaves this supernode promoted
	Demotions        uint64 // 1 if it demoted itself
	Announces        uint64 // announcements of other supernodes received whole
	AnnouncesNew     uint64 // of those, the ones newer than the one held
}

// Status is a snapshot of a running peer, as 'parley status' prints it.
type Status struct {
	NodeID      string          `json:"node_id"`
	Fingerprint string          `json:"fingerprint"`
	Username    string          `json:"username,omitempty"`
	Claim       string          `json:"claim,omitempty"` // state of the username claim
	Role        Role            `json:"role"`
	State       LeafState       `json:"state"`
	Primary     *LinkInfo       `json:"primary,omitempty"`
	Standbys    []LinkInfo      `json:"standbys,omitempty"`
	Listen      string          `json:"listen,omitempty"`
	Candidate   string          `json:"candidate,omitempty"` // where it offers to serve, if it does
	Supernode   *SupernodeStats `json:"supernode,omitempty"`
	Supernodes  []string        `json:"supernodes,omitempty"` // mesh peers of a supernode
	Version     string          `json:"version"`
}

// Status returns a snapshot of the peer.
func (p *Peer) Status() Status {
	st := Status{
		NodeID:      p.prof.Identity.NodeID().String(),
		Fingerprint: p.prof.Fingerprint(),
		Username:    p.prof.Username,
		Version:     VersionString(),
		Role:        RoleLeaf,
	}
	p.mu.Lock()
	st.Claim = p.claim
	p.mu.Unlock()
	sn := p.node.Supernode()
	st.Candidate = p.node.CandidateAddr()
	if p.leaf != nil {
		ls := p.leaf.Status()
		st.State = LeafState(ls.State)
		if ls.Primary != nil {
			l := linkInfo(*ls.Primary)
			st.Primary = &l
		}
		for _, sb := range ls.Standbys {
			st.Standbys = append(st.Standbys, linkInfo(sb))
		}
	}
	if sn != nil {
		st.Role, st.Listen = RoleSupernode, sn.Addr()
		if p.opts.Seed {
			st.Role, st.State = RoleSeed, StateOnline
		}
		stats := SupernodeStats(sn.Stats())
		st.Supernode = &stats
		self := p.prof.Identity.NodeID()
		for _, s := range sn.Supernodes() {
			if string(s.ID) != string(self[:]) {
				st.Supernodes = append(st.Supernodes, s.Addr)
			}
		}
	}
	return st
}

// SupernodeStats returns the peer's supernode counters, and false while
// it is not a supernode.
func (p *Peer) SupernodeStats() (SupernodeStats, bool) {
	sn := p.node.Supernode()
	if sn == nil {
		return SupernodeStats{}, false
	}
	return SupernodeStats(sn.Stats()), true
}
