// Package e2e runs the real parley and parley-seed binaries on loopback, as
// a user or an operator would, and checks what they print and do.
package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/call/audio"
	"github.com/parleynet/parley/internal/cli"
)

var bin struct {
	dir        string
	parley     string
	seed       string
	buildErr   error
	once       sync.Once
	moduleRoot string
}

// build compiles both binaries once per test run.
func build(t testing.TB) {
	t.Helper()
	bin.once.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			bin.buildErr = err
			return
		}
		bin.moduleRoot = filepath.Dir(strings.TrimSpace(string(out)))
		bin.dir, bin.buildErr = os.MkdirTemp("", "parley-e2e-")
		if bin.buildErr != nil {
			return
		}
		bin.parley = filepath.Join(bin.dir, "parley")
		bin.seed = filepath.Join(bin.dir, "parley-seed")
		for _, b := range []struct {
			out, pkg string
			cgo      bool
		}{{bin.parley, ".", true}, {bin.seed, "./cmd/parley-seed", false}} {
			cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
			cmd.Dir = bin.moduleRoot
			if !b.cgo {
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				bin.buildErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if bin.buildErr != nil {
		t.Fatal(bin.buildErr)
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: the real binaries are not run with -short")
		os.Exit(0)
	}
	code := m.Run()
	if bin.dir != "" {
		os.RemoveAll(bin.dir)
	}
	os.Exit(code)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a running binary.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func start(t testing.TB, path string, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, path, args...)
}

// startEnv is start with more environment variables.
func startEnv(t testing.TB, env []string, path string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(path, args...), out: &syncBuffer{}, done: make(chan struct{})}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s %s output:\n%s", filepath.Base(path), strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// runCmd runs a binary to completion and returns its output (stdout then
// stderr) and exit code.
func runCmd(t testing.TB, path string, args ...string) (string, int) {
	t.Helper()
	stdout, stderr, code := runCmd2(t, path, args...)
	return stdout + stderr, code
}

// runCmd2 is runCmd with stdout and stderr apart.
func runCmd2(t testing.TB, path string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", path, args, err)
	}
	return o.String(), e.String(), 0
}

func initProfile(t testing.TB, name string, seeds string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	out, code := runCmd(t, bin.parley, "--profile", dir, "--seeds="+seeds, "init", "--username", name)
	if code != 0 || !strings.Contains(out, "fingerprint:") {
		t.Fatalf("init %s: exit %d\n%s", name, code, out)
	}
	return dir
}

func status(t *testing.T, dir string) (app.Status, bool) {
	t.Helper()
	out, _, code := runCmd2(t, bin.parley, "--profile", dir, "status", "--json")
	if code != 0 {
		return app.Status{}, false
	}
	var st app.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st, true
}

func waitStatus(t *testing.T, dir string, timeout time.Duration, what string, ok func(app.Status) bool) app.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, running := status(t, dir)
		if running && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out waiting for %s; last status %+v", dir, what, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNetworkOfProcesses is the README's demo as a test: a seed, two
// supernodes and three peers, each its own process.
func TestNetworkOfProcesses(t *testing.T) {
	build(t)
	seedAddr, httpAddr := freeAddr(t), freeAddr(t)
	seed := start(t, bin.seed, "--listen", seedAddr, "--data", t.TempDir(), "--http", httpAddr)
	seeds := "--seeds=" + seedAddr

	sns := map[string]*proc{}
	snAddr := map[string]string{}
	var snDirs []string
	for _, name := range []string{"sn-one", "sn-two"} {
		dir := initProfile(t, name, seedAddr)
		snAddr[name] = freeAddr(t)
		sns[name] = start(t, bin.parley, "--profile", dir, seeds, "daemon", "--supernode", "--listen", snAddr[name])
		snDirs = append(snDirs, dir)
	}
	for _, dir := range snDirs {
		waitStatus(t, dir, 10*time.Second, "supernode mesh", func(st app.Status) bool { return len(st.Supernodes) == 2 })
	}
	var peers []string
	for _, name := range []string{"alice", "bob", "carol"} {
		dir := initProfile(t, name, seedAddr)
		start(t, bin.parley, "--profile", dir, seeds, "daemon", "--listen", "127.0.0.1:0")
		peers = append(peers, dir)
	}
	for _, dir := range peers {
		st := waitStatus(t, dir, 10*time.Second, "primary and two standbys", func(st app.Status) bool {
			return st.Primary != nil && len(st.Standbys) == 2
		})
		if st.Role != app.RoleLeaf || st.State != "online" || st.Primary.Seed {
			t.Errorf("%s: %+v", dir, st)
		}
		out, code := runCmd(t, bin.parley, "--profile", dir, "status")
		if code != 0 || strings.Count(out, "standby:") != 2 || !strings.Contains(out, "primary:") || !strings.Contains(out, "fingerprint:") {
			t.Errorf("status text, exit %d:\n%s", code, out)
		}
	}

	// Metrics and health of the seed.
	metrics := httpGet(t, "http://"+httpAddr+"/metrics")
	for _, m := range []string{"parley_leaves_connected ", "parley_logins_accepted_total", "parley_logins_redirected_total 0", "parley_links_open", "parley_supernodes_linked 2"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
	if h := httpGet(t, "http://"+httpAddr+"/healthz"); !strings.HasPrefix(h, "ok") {
		t.Errorf("/healthz = %q", h)
	}

	// The directory: alice finds bob's claim and presence; nobody holds "zed".
	waitLookup := func(name string) string {
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, code := runCmd(t, bin.parley, "--profile", peers[0], "lookup", name)
			if code == 0 && strings.Contains(out, "presence:    online") {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("lookup %s: exit %d\n%s", name, code, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	bobStatus, _ := status(t, peers[1])
	if out := waitLookup("BOB"); !strings.Contains(out, bobStatus.NodeID) || !strings.Contains(out, bobStatus.Fingerprint) {
		t.Errorf("lookup bob:\n%s\nwant node %s", out, bobStatus.NodeID)
	}
	if out, code := runCmd(t, bin.parley, "--profile", peers[0], "lookup", "zed"); code != cli.ExitNotFound || !strings.Contains(out, "no one holds") {
		t.Errorf("lookup of an unclaimed name: exit %d: %s", code, out)
	}
	// A taken name cannot be claimed by a new profile.
	out, code := runCmd(t, bin.parley, "--profile", filepath.Join(t.TempDir(), "imposter"), seeds, "init", "--username", "Carol")
	if code != cli.ExitNameTaken || !strings.Contains(out, "another key") {
		t.Errorf("init with a taken name: exit %d: %s", code, out)
	}

	// SIGKILL alice's primary supernode: she is on a standby within 2 s.
	st, _ := status(t, peers[0])
	var victim string
	for name, addr := range snAddr {
		if st.Primary.Addr == addr {
			victim = name
		}
	}
	if victim == "" {
		t.Fatalf("alice's primary %s is not one of the supernodes", st.Primary.Addr)
	}
	killed := time.Now()
	sns[victim].cmd.Process.Signal(syscall.SIGKILL)
	after := waitStatus(t, peers[0], 2*time.Second, "failover", func(s app.Status) bool {
		return s.Primary != nil && s.Primary.Addr != snAddr[victim]
	})
	t.Logf("failover from SIGKILLed %s to %s in %v", victim, after.Primary.Addr, time.Since(killed))

	// SIGTERM stops the seed cleanly with exit 0.
	seed.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-seed.done:
		if seed.err != nil {
			t.Fatalf("seed after SIGTERM: %v\n%s", seed.err, seed.out.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("seed did not exit within 5 s of SIGTERM")
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

func TestProfileErrors(t *testing.T) {
	build(t)
	dir := initProfile(t, "alice", "127.0.0.1:1")

	out, code := runCmd(t, bin.parley, "--profile", dir, "--seeds=127.0.0.1:1", "init", "--username", "alice")
	if code != cli.ExitError || !strings.Contains(out, "already exists") {
		t.Errorf("init twice: exit %d: %s", code, out)
	}
	out, code = runCmd(t, bin.parley, "--profile", dir, "status")
	if code != cli.ExitNotRunning || !strings.Contains(out, "no Parley daemon is running") {
		t.Errorf("status with no daemon: exit %d: %s", code, out)
	}
	out, code = runCmd(t, bin.parley, "--profile", t.TempDir(), "--seeds=127.0.0.1:1", "daemon")
	if code != cli.ExitNoProfile || !strings.Contains(out, "parley init") {
		t.Errorf("daemon without profile: exit %d: %s", code, out)
	}
	out, code = runCmd(t, bin.parley, "--profile", dir, "--bogus")
	if code != cli.ExitUsage {
		t.Errorf("bad flag: exit %d: %s", code, out)
	}
	out, code = runCmd(t, bin.parley, "--profile", dir, "--seeds=127.0.0.1:1", "init", "--username", "x y")
	if code != cli.ExitUsage || !strings.Contains(out, "username") {
		t.Errorf("bad username: exit %d: %s", code, out)
	}

	// Second instance on one profile.
	d := start(t, bin.parley, "--profile", dir, "--seeds=127.0.0.1:1", "daemon", "--listen", "127.0.0.1:0")
	waitStatus(t, dir, 10*time.Second, "daemon up", func(app.Status) bool { return true })
	out, code = runCmd(t, bin.parley, "--profile", dir, "--seeds=127.0.0.1:1", "daemon", "--listen", "127.0.0.1:0")
	if code != cli.ExitProfileLocked || !strings.Contains(out, "in use by another Parley process") {
		t.Errorf("second daemon: exit %d: %s", code, out)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.done
	if d.err != nil {
		t.Errorf("daemon after SIGTERM: %v", d.err)
	}

	db := filepath.Join(dir, "parley.db")
	// Newer schema.
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.Exec("PRAGMA user_version = 42"); err != nil {
		t.Fatal(err)
	}
	sdb.Close()
	out, code = runCmd(t, bin.parley, "--profile", dir, "daemon")
	if code != cli.ExitNewerSchema || !strings.Contains(out, "newer") {
		t.Errorf("newer schema: exit %d: %s", code, out)
	}
	// Corrupt file.
	os.Remove(db + "-wal")
	os.Remove(db + "-shm")
	if err := os.WriteFile(db, bytes.Repeat([]byte("garbage!"), 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = runCmd(t, bin.parley, "--profile", dir, "daemon")
	if code != cli.ExitCorrupt || !strings.Contains(out, "not a valid Parley database") {
		t.Errorf("corrupt database: exit %d: %s", code, out)
	}
	if strings.Contains(out, "panic") || strings.Contains(out, "goroutine") {
		t.Errorf("corrupt database panicked:\n%s", out)
	}
}

func TestVersions(t *testing.T) {
	build(t)
	for _, b := range []string{bin.parley, bin.seed} {
		out, code := runCmd(t, b, "--version")
		if code != 0 || !strings.Contains(out, app.Version) {
			t.Errorf("%s --version: exit %d: %q", filepath.Base(b), code, out)
		}
	}
	out, code := runCmd(t, bin.seed, "--max-leaves", "many")
	if code != cli.ExitUsage {
		t.Errorf("seed bad flag: exit %d: %s", code, out)
	}
}

func TestSeedFlagsFromEnvironment(t *testing.T) {
	build(t)
	httpAddr := freeAddr(t)
	cmd := exec.Command(bin.seed)
	cmd.Env = append(os.Environ(),
		"PARLEY_SEED_LISTEN="+freeAddr(t),
		"PARLEY_SEED_DATA="+t.TempDir(),
		"PARLEY_SEED_HTTP="+httpAddr,
	)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("seed configured from PARLEY_SEED_* never served /healthz:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("seed after SIGTERM: %v", err)
	}
}

// TestSeedIsStatic: the e2e build made parley-seed with CGO_ENABLED=0; it
// must be a static binary (its dependencies are tested beside it, in
// cmd/parley-seed).
func TestSeedIsStatic(t *testing.T) {
	build(t)
	f, err := os.ReadFile(bin.seed)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(f[:min(len(f), 4096)], []byte("/lib64/ld-linux")) {
		t.Error("parley-seed is dynamically linked")
	}
}

// TestChatSurvivesSIGKILL: alice writes to bob while each of them is
// SIGKILLed and restarted at moments of the test's choosing. Every message
// whose 'parley send' returned success reaches bob exactly once, and alice
// sees each delivered.
func TestChatSurvivesSIGKILL(t *testing.T) {
	build(t)
	seedAddr := freeAddr(t)
	start(t, bin.seed, "--listen", seedAddr, "--data", t.TempDir(), "--http", "")
	seeds := "--seeds=" + seedAddr
	snDir := initProfile(t, "sn-one", seedAddr)
	start(t, bin.parley, "--profile", snDir, seeds, "daemon", "--supernode", "--listen", freeAddr(t))

	dirs := map[string]string{"alice": initProfile(t, "alice", seedAddr), "bob": initProfile(t, "bob", seedAddr)}
	procs := map[string]*proc{}
	up := func(name string) {
		procs[name] = start(t, bin.parley, "--profile", dirs[name], seeds, "daemon", "--no-supernode", "--listen", "127.0.0.1:0")
		waitStatus(t, dirs[name], 10*time.Second, name+" online", func(st app.Status) bool { return st.Primary != nil })
	}
	kills := 0
	kill := func(name string) {
		kills++
		procs[name].cmd.Process.Signal(syscall.SIGKILL)
		<-procs[name].done
	}
	cli := func(name string, args ...string) (string, int) {
		return runCmd(t, bin.parley, append([]string{"--profile", dirs[name]}, args...)...)
	}
	up("alice")
	up("bob")
	until(t, "bob's claim", 10*time.Second, func() bool { _, code := cli("alice", "lookup", "bob"); return code == 0 })
	if out, code := cli("alice", "add", "bob", "--message", "it's alice"); code != 0 {
		t.Fatalf("add: exit %d\n%s", code, out)
	}
	until(t, "bob sees the request", 10*time.Second, func() bool { out, _ := cli("bob", "contacts"); return strings.Contains(out, "incoming") })
	if out, code := cli("bob", "accept", "alice"); code != 0 {
		t.Fatalf("accept: exit %d\n%s", code, out)
	}
	until(t, "alice sees the acceptance", 10*time.Second, func() bool { out, _ := cli("alice", "contacts"); return strings.Contains(out, "accepted") })

	var sent []string
	send := func(i int) {
		text := fmt.Sprintf("message %d", i)
		if _, code := cli("alice", "send", "bob", text); code == 0 {
			sent = append(sent, text)
		}
	}
	for i := range 40 {
		switch i {
		case 8:
			kill("bob")
		case 16:
			up("bob")
		case 20:
			kill("alice") // the next sends fail: alice is not running
		case 23:
			up("alice")
		case 30:
			kill("bob")
			kill("alice")
			up("alice")
		case 34:
			up("bob")
		}
		send(i)
		if i%5 == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if len(sent) < 30 {
		t.Fatalf("only %d sends succeeded", len(sent))
	}
	// SIGKILL alice right after a send, before anything could be delivered.
	send(40)
	kill("alice")
	up("alice")

	messages := func(name, with string) []app.MessageInfo {
		out, _, code := runCmd2(t, bin.parley, "--profile", dirs[name], "messages", with, "--json", "--limit", "1000")
		if code != 0 {
			return nil
		}
		var ms []app.MessageInfo
		json.Unmarshal([]byte(out), &ms)
		return ms
	}
	until(t, "every sent message at bob", 60*time.Second, func() bool {
		got := map[string]int{}
		for _, m := range messages("bob", "alice") {
			got[m.Body]++
		}
		for _, s := range sent {
			if got[s] == 0 {
				return false
			}
		}
		return true
	})
	got := map[string]int{}
	for _, m := range messages("bob", "alice") {
		got[m.Body]++
	}
	for body, n := range got {
		if n != 1 {
			t.Errorf("bob shows %q %d times", body, n)
		}
	}
	until(t, "alice sees every message delivered", 60*time.Second, func() bool {
		for _, m := range messages("alice", "bob") {
			if m.State != "delivered" && m.State != "read" {
				return false
			}
		}
		return true
	})
	t.Logf("%d messages sent across %d SIGKILLs, each shown once at bob", len(sent), kills)
}

// writeTone writes seconds of a freq Hz tone as a 48 kHz mono WAV file.
func writeTone(t *testing.T, path string, freq float64, seconds int) {
	t.Helper()
	sink, err := audio.CreateWAVSink(path)
	if err != nil {
		t.Fatal(err)
	}
	src := audio.NewToneSource(freq, 0.5)
	pcm := make([]int16, audio.FrameSamples)
	for range seconds * 50 {
		src.ReadFrame(pcm)
		if err := sink.WriteFrame(pcm); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
}

// toneSeconds reads a WAV file and returns, per second, how strongly freq
// stands out: the mean over its 50 ms windows of the ratio of freq's
// Goertzel power to the window's total power (0 for silence). Windows,
// not whole seconds: the tone's phase may jump where the jitter buffer
// or the playback queue adjusted the delay, and over a whole second a
// half-period jump would cancel the tone out of the sum.
func toneSeconds(t *testing.T, path string, freq float64) []float64 {
	t.Helper()
	src, err := audio.OpenWAVSource(path, audio.WAVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	const window = audio.SampleRate / 20
	k := 2 * math.Cos(2*math.Pi*freq/audio.SampleRate)
	var out []float64
	var s1, s2, total, sum float64
	n, windows := 0, 0
	pcm := make([]int16, audio.FrameSamples)
	for src.ReadFrame(pcm) == nil {
		for _, v := range pcm {
			x := float64(v)
			s1, s2 = x+k*s1-s2, s1
			total += x * x
			if n++; n%window != 0 {
				continue
			}
			sum += (s1*s1 + s2*s2 - k*s1*s2) / (total*window/2 + 1)
			s1, s2, total = 0, 0, 0
			if windows++; windows == 20 {
				out = append(out, sum/20)
				sum, windows = 0, 0
			}
		}
	}
	return out
}

// TestCallsFromTheCommandLine: 'parley call' with WAV files to a daemon
// that answers by itself, and to the seed's echo account.
func TestCallsFromTheCommandLine(t *testing.T) {
	build(t)
	seedAddr := freeAddr(t)
	start(t, bin.seed, "--listen", seedAddr, "--data", t.TempDir(), "--http", "", "--echo-username", "echo123")
	seeds := "--seeds=" + seedAddr
	work := t.TempDir()
	tone := filepath.Join(work, "tone440.wav")
	writeTone(t, tone, 440, 3)

	alice := initProfile(t, "alice", seedAddr)
	bob := initProfile(t, "bob", seedAddr)
	bobHeard := filepath.Join(work, "bob-heard.wav")
	start(t, bin.parley, "--profile", alice, seeds, "daemon", "--no-supernode", "--listen", "127.0.0.1:0")
	start(t, bin.parley, "--profile", bob, seeds, "daemon", "--no-supernode", "--listen", "127.0.0.1:0",
		"--auto-answer", "--record", bobHeard)
	for _, d := range []string{alice, bob} {
		waitStatus(t, d, 10*time.Second, "online", func(st app.Status) bool { return st.Primary != nil })
	}
	cli := func(args ...string) (string, int) {
		return runCmd(t, bin.parley, append([]string{"--profile", alice}, args...)...)
	}
	// Contacts: bob accepts by hand; the echo account by itself.
	until(t, "bob's and echo's claims", 30*time.Second, func() bool {
		_, a := cli("lookup", "bob")
		_, b := cli("lookup", "echo123")
		return a == 0 && b == 0
	})
	for _, name := range []string{"bob", "echo123"} {
		if out, code := cli("add", name); code != 0 {
			t.Fatalf("add %s: %s", name, out)
		}
	}
	until(t, "bob sees the request", 30*time.Second, func() bool {
		out, _ := runCmd(t, bin.parley, "--profile", bob, "contacts")
		return strings.Contains(out, "incoming")
	})
	runCmd(t, bin.parley, "--profile", bob, "accept", "alice")
	until(t, "both accepted", 30*time.Second, func() bool { out, _ := cli("contacts"); return strings.Count(out, "accepted") == 2 })

	// Alice calls bob, who answers by himself and records.
	out, code := cli("call", "bob", "--play", tone, "--duration", "3s")
	if code != 0 || !strings.Contains(out, "answered") {
		t.Fatalf("call bob: exit %d\n%s", code, out)
	}
	t.Log(strings.TrimSpace(out))
	until(t, "bob's recording", 30*time.Second, func() bool { fi, err := os.Stat(bobHeard); return err == nil && fi.Size() > 48000*2*2 })
	heard := toneSeconds(t, bobHeard, 440)
	if len(heard) < 2 || heard[1] < 0.5 {
		t.Fatalf("bob's recording: 440 Hz share per second %v, want ≥ 0.5 in the second second", heard)
	}

	// The echo account plays back what it heard: alice records it.
	echoed := filepath.Join(work, "echoed.wav")
	out, code = cli("call", "echo123", "--play", tone, "--record", echoed, "--duration", "9s")
	if code != 0 || !strings.Contains(out, "answered") {
		t.Fatalf("call echo123: exit %d\n%s", code, out)
	}
	back := toneSeconds(t, echoed, 440)
	t.Logf("440 Hz share per second of what the echo sent back: %.2f", back)
	if len(back) < 8 || slices.Max(back[:4]) > 0.2 || slices.Max(back[5:8]) < 0.5 {
		t.Fatalf("echo: 440 Hz share per second %v: want silence while it records (5 s), then the tone", back)
	}
}
