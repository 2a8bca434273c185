// Package relay is the STUN and TURN service every supernode runs on one UDP
// port, built on pion/turn. The same socket answers STUN binding requests
// (a leaf learns its server-reflexive address) and TURN requests (a leaf
// behind a NAT that defeats hole punching gets a relayed address).
//
// # Credentials
//
// TURN needs credentials; a supernode hands its leaves short-lived ones the
// TURN REST way (draft-uberti-behave-turn-rest), so the server keeps no user
// table:
//
//	username = "<unix expiry time>:<user>"
//	password = base64(HMAC-SHA1(secret, username))
//
// The secret is the server's own (random per process unless configured), so
// only the supernode that issued a credential accepts it. The server refuses
// a username whose expiry has passed, that does not parse, that names no
// user, or whose realm is not the server's; a wrong password fails the STUN
// message-integrity check. Credentials live ten minutes unless asked
// otherwise, and a new allocation needs unexpired ones. Requests on an
// allocation already made (refreshes, permissions, channel bindings) are
// accepted for RefreshGrace (12 h) past the expiry: the TURN client inside a
// running call cannot change its credentials, and the call must not drop
// when they expire.
//
// # Quotas and peers
//
// Each user may hold MaxAllocationsPerUser allocations at once (default 5)
// and the server MaxAllocations in all (default 1000). Pion answers an
// allocation over quota with 508 (Insufficient Capacity); RFC 5766 would say
// 486, but pion's allocate handler has no hook for it.
//
// A relay lets a remote client send UDP from the supernode's machine, which
// is usually someone's home computer. By default relaying is allowed only to
// public unicast addresses: never to loopback, private (RFC 1918, RFC 4193),
// carrier-grade NAT, link-local, multicast or unspecified ones, so a relay
// is no way into its host's LAN. Tests on loopback widen this with
// Config.PermitPeer.
//
// # Logging
//
// Allocations refused for quota are logged at Info, refused credentials and
// peers at Debug. Pion's own messages go to Debug at most: everything the
// TURN server complains of is a client sending something wrong, and a
// hostile client must not be able to flood the log.
package relay
