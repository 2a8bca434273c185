// Package sim is an in-memory network for simulating thousands of overlay
// peers in virtual time.
//
// A [Net] holds hosts, each named by an IP address ([Net.Host]). A [*Host]
// offers Dial, Listen and ListenPacket with the method set of
// overlay.Network, so the real overlay code — TLS 1.3 over stream
// connections, UDP datagrams for reachability probes — runs over it
// unchanged.
//
// # Time
//
// The package uses only the time package, channels and short mutex-guarded
// critical sections, and it starts no goroutines of its own: data in flight
// is a queue of (bytes, delivery time) entries that the reader waits on with
// a timer. Inside a testing/synctest bubble every wait is durably blocking,
// so virtual time advances whenever all simulated hosts are idle; outside a
// bubble it works with real time. A Net used inside a bubble must be created
// and closed inside that bubble (its channels belong to the bubble).
//
// # Latency and loss
//
// Each unordered pair of IPs has a one-way latency drawn deterministically
// from the seed (a hash of seed and pair, uniform in 5–60 ms; zero from a host
// to itself); nothing is stored per pair. [Net.SetLatency] overrides it.
// Stream connections are reliable and ordered. Datagrams are lost with the
// probability set by [Net.SetLoss], drawn from a PCG generator seeded by the
// seed (draws depend on call order).
//
// # Stream connections
//
// Dial takes one round trip. The SYN reaches the target after one latency;
// if the target host does not exist, is down, is behind NAT (a NAT drops
// unsolicited SYNs) or is on the other side of a partition, the dial is a
// black hole: it waits until its context is done (returning an error that
// wraps ctx.Err()), the dialling host goes down, the Net is closed, or — as a
// kernel gives up on SYN retries — 127 s after the dial began (an
// ETIMEDOUT error). If the target is up but nothing listens on the port, the
// dial fails with "connection refused" (syscall.ECONNREFUSED) after one
// round trip. Otherwise the connection is queued on the listener when the SYN
// arrives and Dial returns after the round trip.
//
// Data written arrives at the other end after the one-way latency, in order;
// writes never block (buffers are unbounded). Close makes the peer read its
// remaining data and then io.EOF. Deadlines give errors matching
// os.ErrDeadlineExceeded whose Timeout() is true. Errors are *net.OpError, as
// from real sockets; closed sockets give errors matching net.ErrClosed.
//
// While two hosts are partitioned ([Net.Partition]), data already sent
// between them stalls, as TCP retransmitting into a void, and is delivered
// when the partition heals ([Net.Heal]). New dials across a partition black
// hole.
//
// # Datagrams
//
// ListenPacket gives a UDP-like socket. A datagram arrives after the one-way
// latency unless lost, partitioned, its target host is missing or down, or no
// socket is bound to the target port at send time; then it is silently
// dropped. TCP and UDP port spaces are separate. Ephemeral ports are taken
// from 30000 upward.
//
// # NAT
//
// A host behind NAT ([Host.SetNAT]) is modelled as a port-restricted cone
// without address translation: inbound dials black hole; a datagram reaches
// one of its sockets only if that socket sent a datagram to the datagram's
// source (ip, port) no later than the datagram's arrival. Stream
// connections the host dials out work normally in both directions. NAT
// mappings never expire. Traffic a host sends to itself bypasses the NAT.
//
// # Crashes
//
// [Host.Down] crashes a machine: the host's connections, listeners and
// packet sockets are closed (local callers get net.ErrClosed), and the
// remote end of each connection reads "connection reset by peer"
// (syscall.ECONNRESET) after the latency, once the data sent before the
// crash is drained. While down, dials to the host black hole and dials,
// Listen and ListenPacket on it fail. [Host.Up] brings it back with no
// listeners; the code must Listen again.
package sim
