// Package natns tests Parley's WebRTC sessions (rtc) through a
// STUN/TURN server (overlay/relay) across real Linux kernel NAT: iptables
// masquerading routers in network namespaces, with every peer and the
// server a process of its own in its namespace. It has no code of its own;
// see natns_test.go. The test runs only as root on Linux with iproute2 and
// iptables, and is skipped otherwise.
package natns
