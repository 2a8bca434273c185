package natns

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/parleynet/parley/rtc"
)

func TestMain(m *testing.M) {
	if kind := os.Getenv(helperEnv); kind != "" {
		os.Exit(runHelper(kind))
	}
	flag.Parse()
	if testing.Short() {
		fmt.Println("natns: the kernel-NAT lab is not run with -short")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The lab's "internet" is TEST-NET-3 on a bridge in a namespace of its own,
// which also holds the STUN/TURN server. TEST-NET addresses are public as
// far as overlay/relay's default PermitPeer can tell, so the server runs
// with the defaults a supernode has.
const (
	pubNet     = "203.0.113"
	serverIP   = pubNet + ".1"
	serverAddr = serverIP + ":3478"
)

// Timeouts. A pair opens in well under a second directly and in two to
// three through the relay (pion waits 2 s before it takes a relay pair).
const (
	connectTimeout = 20 * time.Second // the sessions' own ConnectTimeout
	openWait       = 15 * time.Second // the test's wait for both to open
	stepWait       = 5 * time.Second  // any other answer from a helper
)

// natKind is what stands between a peer and the lab's internet.
type natKind int

const (
	// natNone: the peer's own address is public.
	natNone natKind = iota
	// natMasq: a home router: `iptables -t nat -A POSTROUTING -o pub -j
	// MASQUERADE`, and a filter that drops what comes in on the public
	// side unless conntrack knows it (ESTABLISHED, RELATED). Linux keeps
	// the source port when it is free, so the mapping is endpoint-
	// independent, and only replies from the exact address and port a
	// packet went to come in: address-and-port-dependent filtering, a
	// port-restricted cone.
	natMasq
	// natSym: the same with MASQUERADE --random-fully: every new
	// destination gets a fresh random port, so the mapping is address-and-
	// port-dependent too, a symmetric NAT.
	natSym
	// natBare: MASQUERADE and nothing else, no filter. An unsolicited
	// packet then goes up to the router's own (closed) port, and conntrack
	// keeps an entry for it: when the peer behind then sends to where that
	// packet came from, its usual mapping would clash with the entry, and
	// Linux picks another port. So when the other side's check arrives
	// before this side's first one goes out, as it mostly does, this side's
	// checks leave from a port the other side does not expect.
	natBare
)

func (k natKind) String() string {
	return [...]string{"none", "masquerade", "symmetric", "bare-masquerade"}[k]
}

// Paths a pair may take.
const (
	direct  = "direct"
	relayed = "relay"
	either  = "either"
)

// wantPath says how a pair connects, as in rtc's vnet matrix: a
// symmetric NAT maps the checks it sends to a peer on a port nobody was
// told of, which passes the other side's filter only if there is none (no
// NAT): symmetric with a NAT on the other side needs the relay. Everything
// else connects directly, if need be through a peer-reflexive candidate;
// but whether a bare masquerade can hole-punch depends on which check
// comes first (see natBare), so there either is right.
func wantPath(a, b natKind) string {
	switch {
	case a == natNone || b == natNone:
		return direct
	case a == natSym || b == natSym:
		return relayed
	case a == natBare || b == natBare:
		return either
	}
	return direct
}

// pairs are the (offerer, answerer) pairs the test connects.
var pairs = [][2]natKind{
	{natNone, natNone},
	{natNone, natMasq},
	{natNone, natSym},
	{natMasq, natMasq},
	{natMasq, natSym},
	{natSym, natMasq},
	{natSym, natSym},
	{natBare, natBare},
}

type pairResult struct {
	a, b         natKind
	pathA, pathB rtc.Path // the offerer's and the answerer's view
	candsA       []string // candidate types each side gathered
	candsB       []string
	took         time.Duration // from Start to both channels open
	ok           bool
}

// TestKernelNAT connects pairs of rtc.Sessions across real kernel NAT:
// every peer is a process in a network namespace of its own, straight on
// the lab's internet or behind a router namespace that masquerades with
// iptables (see natKind: a home router, the same with random ports for a
// symmetric NAT, or a bare MASQUERADE rule), and a STUN/TURN server from
// overlay/relay runs in the internet's namespace. The test carries the signals between the two processes, as
// supernodes would, and checks that every pair opens its data channel,
// carries a message each way, and goes direct or through the relay as NAT
// theory says. It needs root, iproute2 and iptables, and is skipped
// without them.
func TestKernelNAT(t *testing.T) {
	l := newLab(t)
	start := time.Now()
	var results []pairResult
	for i, p := range pairs {
		a, b := p[0], p[1]
		name := fmt.Sprintf("%s→%s", a, b)
		ran := false
		r := pairResult{a: a, b: b}
		t.Run(name, func(t *testing.T) {
			ran = true
			r = l.runPair(t, i+1, a, b)
		})
		if ran { // not filtered out by -run
			results = append(results, r)
		}
	}
	t.Logf("kernel NAT: %d pairs in %v", len(results), time.Since(start).Round(time.Millisecond))

	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "offerer → answerer\tpath\topen after\tofferer: local → remote\tanswerer: local → remote\tgathered (offerer / answerer)")
	for _, r := range results {
		how := "FAILED"
		switch {
		case !r.ok:
		case r.pathA.Relayed():
			how = "relay"
		default:
			how = "direct"
		}
		fmt.Fprintf(tw, "%s → %s\t%s\t%.1fs\t%s\t%s\t%s / %s\n", r.a, r.b, how, r.took.Seconds(),
			r.pathA, r.pathB, strings.Join(r.candsA, ","), strings.Join(r.candsB, ","))
	}
	tw.Flush()
	t.Logf("selected paths:\n%s", table.String())
}

// runPair builds the two peers' namespaces for pair n, connects them and
// exchanges a message each way.
func (l *lab) runPair(t *testing.T, n int, a, b natKind) pairResult {
	r := pairResult{a: a, b: b}
	nsA := l.addPeer(t, fmt.Sprintf("%da", n), a, 1)
	nsB := l.addPeer(t, fmt.Sprintf("%db", n), b, 2)
	pa := l.startPeer(t, nsA, fmt.Sprintf("offerer (%s)", a), true, l.iceServers(t, fmt.Sprintf("pair%d-offerer", n)))
	pb := l.startPeer(t, nsB, fmt.Sprintf("answerer (%s)", b), false, l.iceServers(t, fmt.Sprintf("pair%d-answerer", n)))
	pa.setPeer(pb)
	pb.setPeer(pa)
	pa.expect(t, "ready", stepWait)
	pb.expect(t, "ready", stepWait)

	start := time.Now()
	pa.send(t, message{T: "start"})
	pa.expect(t, "open", openWait)
	pb.expect(t, "open", openWait-time.Since(start))
	r.took = time.Since(start)

	msgA, msgB := "hello from the offerer", "hello from the answerer"
	pa.send(t, message{T: "send", Data: msgA})
	pb.send(t, message{T: "send", Data: msgB})
	if got := pb.expect(t, "message", stepWait).Data; got != msgA {
		t.Fatalf("answerer got %q, want %q", got, msgA)
	}
	if got := pa.expect(t, "message", stepWait).Data; got != msgB {
		t.Fatalf("offerer got %q, want %q", got, msgB)
	}
	r.pathA = pa.path(t)
	r.pathB = pb.path(t)
	r.candsA, r.candsB = pa.gathered(), pb.gathered()
	for _, h := range []*helper{pa, pb} {
		for _, e := range h.refusals() {
			t.Errorf("%s refused a signal: %s", h.name, e)
		}
	}
	t.Logf("offerer %v (gathered %v); answerer %v (gathered %v); open after %v",
		r.pathA, r.candsA, r.pathB, r.candsB, r.took.Round(time.Millisecond))
	r.ok = true
	if want := wantPath(a, b); want != either && (r.pathA.Relayed() != (want == relayed) || r.pathB.Relayed() != (want == relayed)) {
		t.Errorf("relayed %v (offerer) / %v (answerer), want %s", r.pathA.Relayed(), r.pathB.Relayed(), want)
	}
	return r
}

// lab is the namespaces of one test run: an internet with the STUN/TURN
// server, and per pair two peers, each on the internet or behind a router.
type lab struct {
	t        *testing.T
	exe      string // this test binary, run again as the helpers
	ip       string // iproute2's ip
	iptables string // an iptables that works in a namespace here
	prefix   string // of every namespace name: "pnat<pid>-"
	pub      string // the internet's namespace
	nextHost int    // last octet of the next public address
	relay    *helper
}

// nsPrefix starts the name of every namespace the test makes; the PID
// follows, so parallel runs keep apart and a dead run's leftovers can be
// told from a live one's.
const nsPrefix = "pnat"

// newLab checks that the test can run here, skipping it otherwise, and
// builds the internet with the STUN/TURN server in it.
func newLab(t *testing.T) *lab {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("kernel NAT test: needs Linux network namespaces")
	}
	if testing.Short() {
		t.Skip("kernel NAT test: skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("kernel NAT test: needs root (network namespaces and iptables)")
	}
	l := &lab{t: t, prefix: fmt.Sprintf("%s%d-", nsPrefix, os.Getpid()), nextHost: 10}
	if l.ip = lookTool("ip"); l.ip == "" {
		t.Skip("kernel NAT test: iproute2's ip not found")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skipf("kernel NAT test: cannot find the test binary to run in the namespaces: %v", err)
	}
	l.exe = exe
	l.removeStale()

	// Can we make a namespace, run a command in it and masquerade there?
	probe := l.prefix + "probe"
	if out, err := exec.Command(l.ip, "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("kernel NAT test: cannot create a network namespace: %v: %s", err, bytes.TrimSpace(out))
	}
	defer exec.Command(l.ip, "netns", "del", probe).Run()
	var tried []string
	for _, name := range []string{"iptables", "iptables-nft", "iptables-legacy"} {
		path := lookTool(name)
		if path == "" {
			continue
		}
		// The rules the routers need: masquerading, random ports, and a
		// conntrack match.
		out, err := exec.Command(l.ip, "netns", "exec", probe, path,
			"-t", "nat", "-A", "POSTROUTING", "-o", "lo", "-j", "MASQUERADE", "--random-fully").CombinedOutput()
		if err == nil {
			out, err = exec.Command(l.ip, "netns", "exec", probe, path,
				"-A", "INPUT", "-i", "lo", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT").CombinedOutput()
		}
		if err == nil {
			l.iptables = path
			break
		}
		tried = append(tried, fmt.Sprintf("%s: %v: %s", path, err, bytes.TrimSpace(out)))
	}
	if l.iptables == "" {
		if len(tried) == 0 {
			t.Skip("kernel NAT test: iptables not found (Debian: apt-get install iptables)")
		}
		t.Skipf("kernel NAT test: iptables cannot masquerade in a network namespace here: %s", strings.Join(tried, "; "))
	}
	t.Logf("kernel NAT lab: %s, %s, namespaces %s*", l.ip, l.iptables, l.prefix)

	l.pub = l.newNS(t, "pub")
	l.must(t, "-n", l.pub, "link", "add", "br0", "type", "bridge")
	l.must(t, "-n", l.pub, "addr", "add", serverIP+"/24", "dev", "br0")
	l.must(t, "-n", l.pub, "link", "set", "br0", "up")
	l.relay = l.start(t, l.pub, "STUN/TURN server", helperEnv+"=relay", listenEnv+"="+serverAddr)
	l.relay.expect(t, "ready", stepWait)
	return l
}

// lookTool finds a command on PATH or in the sbin directories, which a
// root shell may not have on its PATH.
func lookTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// removeStale deletes the namespaces of test runs whose process is gone (a
// run killed before its cleanup).
func (l *lab) removeStale() {
	out, err := exec.Command(l.ip, "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], nsPrefix) {
			continue
		}
		pid, _, ok := strings.Cut(strings.TrimPrefix(f[0], nsPrefix), "-")
		if _, err := strconv.Atoi(pid); !ok || err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); errors.Is(err, os.ErrNotExist) {
			l.t.Logf("removing namespace %s, left by process %s", f[0], pid)
			exec.Command(l.ip, "netns", "del", f[0]).Run()
		}
	}
}

// must runs ip with args, failing the test on an error.
func (l *lab) must(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(l.ip, args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// inNS runs a command in namespace ns, failing the test on an error.
func (l *lab) inNS(t *testing.T, ns string, cmd ...string) {
	t.Helper()
	l.must(t, append([]string{"netns", "exec", ns}, cmd...)...)
}

// sysctl sets a sysctl of namespace ns (key as a path under /proc/sys).
func (l *lab) sysctl(t *testing.T, ns, key, value string) {
	t.Helper()
	l.inNS(t, ns, "sh", "-c", fmt.Sprintf("echo %s > /proc/sys/%s", value, key))
}

// newNS creates namespace prefix+name, removed when t ends, with loopback
// up and IPv6 off (the lab is IPv4; no link-local IPv6 path can sneak
// past the NATs).
func (l *lab) newNS(t *testing.T, name string) string {
	t.Helper()
	ns := l.prefix + name
	if out, err := exec.Command(l.ip, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command(l.ip, "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, bytes.TrimSpace(out))
		}
	})
	if _, err := os.Stat("/proc/sys/net/ipv6"); err == nil {
		l.sysctl(t, ns, "net/ipv6/conf/all/disable_ipv6", "1")
		l.sysctl(t, ns, "net/ipv6/conf/default/disable_ipv6", "1")
	}
	l.must(t, "-n", ns, "link", "set", "lo", "up")
	return ns
}

// attach plugs namespace ns into the internet's bridge as interface "pub"
// and returns the public address it gave it.
func (l *lab) attach(t *testing.T, ns string) string {
	t.Helper()
	k := l.nextHost
	l.nextHost++
	if k > 254 {
		t.Fatal("out of public addresses")
	}
	addr := fmt.Sprintf("%s.%d", pubNet, k)
	port := fmt.Sprintf("v%d", k)
	l.must(t, "link", "add", port, "netns", l.pub, "type", "veth", "peer", "name", "pub", "netns", ns)
	l.must(t, "-n", l.pub, "link", "set", port, "master", "br0")
	l.must(t, "-n", l.pub, "link", "set", port, "up")
	l.must(t, "-n", ns, "addr", "add", addr+"/24", "dev", "pub")
	l.must(t, "-n", ns, "link", "set", "pub", "up")
	return addr
}

// addPeer makes the namespace a peer runs in: on the internet for natNone,
// else on LAN 10.0.<lan>.0/24 behind a router namespace of the kind.
func (l *lab) addPeer(t *testing.T, name string, kind natKind, lan int) string {
	t.Helper()
	host := l.newNS(t, name)
	if kind == natNone {
		addr := l.attach(t, host)
		t.Logf("%s: %s on the internet", host, addr)
		return host
	}
	router := l.newNS(t, name+"-nat")
	public := l.attach(t, router)
	gw, addr := fmt.Sprintf("10.0.%d.1", lan), fmt.Sprintf("10.0.%d.2", lan)
	l.must(t, "link", "add", "lan", "netns", router, "type", "veth", "peer", "name", "eth0", "netns", host)
	l.must(t, "-n", router, "addr", "add", gw+"/24", "dev", "lan")
	l.must(t, "-n", router, "link", "set", "lan", "up")
	l.must(t, "-n", host, "addr", "add", addr+"/24", "dev", "eth0")
	l.must(t, "-n", host, "link", "set", "eth0", "up")
	l.must(t, "-n", host, "route", "add", "default", "via", gw)
	l.sysctl(t, router, "net/ipv4/ip_forward", "1")
	rule := []string{l.iptables, "-t", "nat", "-A", "POSTROUTING", "-o", "pub", "-j", "MASQUERADE"}
	if kind == natSym {
		rule = append(rule, "--random-fully")
	}
	l.inNS(t, router, rule...)
	if kind != natBare {
		for _, chain := range []string{"INPUT", "FORWARD"} {
			l.inNS(t, router, l.iptables, "-A", chain, "-i", "pub", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
			l.inNS(t, router, l.iptables, "-A", chain, "-i", "pub", "-j", "DROP")
		}
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("PARLEY_NATNS_VERBOSE") != "" {
			rules, _ := exec.Command(l.ip, "netns", "exec", router, l.iptables, "-t", "nat", "-L", "POSTROUTING", "-n", "-v").CombinedOutput()
			filter, _ := exec.Command(l.ip, "netns", "exec", router, l.iptables, "-L", "-n", "-v").CombinedOutput()
			rules = append(rules, filter...)
			ct, _ := exec.Command(l.ip, "netns", "exec", router, "cat", "/proc/net/nf_conntrack").CombinedOutput()
			t.Logf("%s (%s, %s → %s):\n%s\nconntrack:\n%s", router, kind, addr, public, rules, ct)
		}
	})
	t.Logf("%s: %s behind %s (%s)", host, addr, public, kind)
	return host
}

// iceServers asks the STUN/TURN server for credentials for user, as a
// leaf asks its supernode.
func (l *lab) iceServers(t *testing.T, user string) []webrtc.ICEServer {
	t.Helper()
	l.relay.send(t, message{T: "creds", User: user})
	m := l.relay.expect(t, "creds", stepWait)
	return []webrtc.ICEServer{{
		URLs:       []string{"stun:" + serverAddr, "turn:" + serverAddr + "?transport=udp"},
		Username:   m.Username,
		Credential: m.Password,
	}}
}

// startPeer starts a peer process in namespace ns.
func (l *lab) startPeer(t *testing.T, ns, name string, offerer bool, servers []webrtc.ICEServer) *helper {
	t.Helper()
	js, err := json.Marshal(servers)
	if err != nil {
		t.Fatal(err)
	}
	o := "0"
	if offerer {
		o = "1"
	}
	return l.start(t, ns, name, helperEnv+"=peer", offererEnv+"="+o, iceEnv+"="+string(js))
}

// helper is the test's side of a helper process.
type helper struct {
	name   string
	cmd    *exec.Cmd
	stderr lockedBuffer
	events chan message  // what the helper said, but signals and refusals
	eof    chan struct{} // closed when its stdout is at an end
	exited chan struct{} // closed when it has exited

	wmu   sync.Mutex // serializes writes to stdin
	stdin io.WriteCloser

	mu      sync.Mutex
	peer    *helper         // where its signals go
	cands   map[string]bool // candidate types it gathered
	refused []string        // signals its session refused
}

// start runs this test binary as a helper in namespace ns, stopped (and
// its log shown, if t failed) when t ends.
func (l *lab) start(t *testing.T, ns, name string, env ...string) *helper {
	t.Helper()
	h := &helper{
		name:   name,
		events: make(chan message, 64),
		eof:    make(chan struct{}),
		exited: make(chan struct{}),
		cands:  make(map[string]bool),
	}
	h.cmd = exec.Command(l.ip, "netns", "exec", ns, l.exe)
	h.cmd.Env = append(os.Environ(), env...)
	h.cmd.Stderr = &h.stderr
	stdin, err := h.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.stdin = stdin
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("starting %s in %s: %v", name, ns, err)
	}
	go h.read(stdout)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of %s (in %s):\n%s", name, ns, h.stderr.tail(24<<10))
		}
	})
	t.Cleanup(h.stop)
	return h
}

// read takes in what the helper says until its stdout ends, forwarding
// signals to its peer.
func (h *helper) read(stdout io.Reader) {
	defer func() {
		close(h.eof)
		h.cmd.Wait()
		close(h.exited)
	}()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			m = message{T: "failed", Err: fmt.Sprintf("unreadable output %q: %v", sc.Text(), err)}
		}
		switch m.T {
		case "signal":
			h.mu.Lock()
			if m.Signal != nil && m.Signal.Kind == rtc.KindCandidate {
				h.cands[candidateType(m.Signal.Candidate)] = true
			}
			to := h.peer
			h.mu.Unlock()
			if to != nil {
				to.forward(m) // as a supernode routes an envelope
			}
		case "refused":
			h.mu.Lock()
			h.refused = append(h.refused, m.Err)
			h.mu.Unlock()
		default:
			h.events <- m
		}
	}
}

// candidateType returns the "typ" of an ICE candidate line.
func candidateType(c string) string {
	f := strings.Fields(c)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "typ" {
			return f[i+1]
		}
	}
	return "?"
}

func (h *helper) setPeer(p *helper) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.peer = p
}

func (h *helper) gathered() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var types []string
	for typ := range h.cands {
		types = append(types, typ)
	}
	order := map[string]int{"host": 0, "srflx": 1, "prflx": 2, "relay": 3}
	slices.SortFunc(types, func(a, b string) int { return order[a] - order[b] })
	return types
}

func (h *helper) refusals() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.refused)
}

// write sends m to the helper.
func (h *helper) write(m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	h.wmu.Lock()
	defer h.wmu.Unlock()
	_, err = h.stdin.Write(append(b, '\n'))
	return err
}

// send sends m to the helper, failing the test if it cannot.
func (h *helper) send(t *testing.T, m message) {
	t.Helper()
	if err := h.write(m); err != nil {
		t.Fatalf("%s: sending %s: %v", h.name, m.T, err)
	}
}

// forward hands the helper a signal from its peer; one it can no longer
// take is lost, as on the way through a supernode.
func (h *helper) forward(m message) { _ = h.write(m) }

// expect waits up to timeout for the helper to say want, failing the test
// if it says it closed or failed first, exits, or stays silent.
func (h *helper) expect(t *testing.T, want string, timeout time.Duration) message {
	t.Helper()
	timer := time.NewTimer(max(timeout, time.Second))
	defer timer.Stop()
	check := func(m message) bool {
		switch m.T {
		case want:
			return true
		case "closed", "failed":
			t.Fatalf("%s: %s (%s) while waiting for %q", h.name, m.T, m.Err, want)
		}
		return false
	}
	for {
		select {
		case m := <-h.events:
			if check(m) {
				return m
			}
		case <-h.eof:
			for {
				select {
				case m := <-h.events:
					if check(m) {
						return m
					}
				default:
					t.Fatalf("%s exited while waiting for %q", h.name, want)
				}
			}
		case <-timer.C:
			t.Fatalf("%s: no %q within %v", h.name, want, timeout)
		}
	}
}

// path asks a peer helper for its session's selected candidate pair.
func (h *helper) path(t *testing.T) rtc.Path {
	t.Helper()
	h.send(t, message{T: "path"})
	m := h.expect(t, "path", stepWait)
	if m.Path == nil {
		t.Fatalf("%s has no selected candidate pair", h.name)
	}
	return *m.Path
}

// stop closes the helper's stdin, which makes it close its session and
// exit, and kills it if it has not within a few seconds.
func (h *helper) stop() {
	h.wmu.Lock()
	h.stdin.Close()
	h.wmu.Unlock()
	select {
	case <-h.exited:
		return
	case <-time.After(3 * time.Second):
	}
	h.cmd.Process.Kill()
	<-h.exited
}

// lockedBuffer is a bytes.Buffer that a process's stderr can be copied
// into while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// tail returns the last n bytes written, from a line start.
func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b.String()
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "…\n" + s
}
