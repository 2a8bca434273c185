// Command parley-loadgen measures the capacity of one Parley supernode: how
// many leaves it holds with heartbeats, how much resident memory each 1,000
// leaves cost it, and at what rate it logs leaves in.
//
// It generates --leaves identities up front (not timed), then logs that many
// leaves in to --target through --concurrency parallel workers. Each login is
// what a real leaf does: a TLS 1.3 link (overlay.DialLink), Hello{Role:
// leaf}, and the supernode's answer. A Redirect is counted and retried after
// its RetryAfterMS (capped at 5 s); an error (refused, reset, a connection
// shed during the handshake, a timeout) is counted and retried with backoff,
// at most --max-errors times per leaf. Every welcomed leaf then runs one
// goroutine that pings at the heartbeat the Welcome asked for and reads the
// Pongs. A leaf whose link fails, that hears a Bye, or that hears nothing
// for three heartbeats (the rule the supernode applies to it) is "lost".
//
// Once all leaves are in, they are held for --hold while the pongs are
// checked; then every link is closed with a Bye. With --rss-pid (the
// supernode's process) it reads VmRSS from /proc/PID/status before the first
// login, at 1,000, 2,000, 5,000, 10,000, 20,000, ... leaves and at the end of
// the hold, plus VmHWM, and reports the RSS per 1,000 leaves as
// (RSS at N − RSS at 0) / (N/1000). It also reports the CPU time the
// supernode spent, since on a small machine the load generator competes with
// it for the same cores. With --metrics (the supernode's /metrics URL) it
// prints the supernode's own counters at the end of the hold.
//
// Output: progress on stderr; on stdout one "name value" line per figure,
// ready to paste into docs. The exit status is 0 only if every leaf logged
// in and none was lost.
//
// The usual way to run it is scripts/bench-capacity, which builds and starts
// a seed with admission limits out of the way. By hand:
//
//	CGO_ENABLED=0 go build -o /tmp/parley-seed ./cmd/parley-seed
//	go build -o /tmp/parley-loadgen ./cmd/parley-loadgen
//	/tmp/parley-seed --listen 127.0.0.1:24717 --data /tmp/seed --http 127.0.0.1:24718 \
//	    --max-leaves 20000 --login-rate 100000 --heartbeat 5s --log-level warn &
//	/tmp/parley-loadgen --target 127.0.0.1:24717 --metrics http://127.0.0.1:24718/metrics \
//	    --rss-pid $! --leaves 10000 --hold 30s
//
// The load generator holds one socket per leaf: its open-file limit (raised
// to the hard limit at start) must exceed --leaves by a margin, and so must
// the supernode's. Keep --concurrency well under the supernode's limit of
// 128 TLS handshakes in flight, above which it sheds new connections.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/wire"
)

// redirectCap caps how long a Redirect's RetryAfterMS makes a leaf wait.
const redirectCap = 5 * time.Second

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

type config struct {
	target       string
	metrics      string
	leaves       int
	concurrency  int
	hold         time.Duration
	rssPID       int
	dialTimeout  time.Duration
	maxErrors    int
	maxRedirects int
	loginTimeout time.Duration
	load         loadConfig // what a leaf does besides heartbeats (load.go)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("parley-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.target, "target", "", "supernode overlay address, host:port (required)")
	fs.StringVar(&cfg.metrics, "metrics", "", "the supernode's Prometheus /metrics URL (optional)")
	fs.IntVar(&cfg.leaves, "leaves", 10000, "leaves to log in and hold")
	fs.IntVar(&cfg.concurrency, "concurrency", 64, "logins in flight at once (keep under the supernode's 128 handshakes)")
	fs.DurationVar(&cfg.hold, "hold", 30*time.Second, "how long to hold all leaves with heartbeats once they are logged in")
	fs.IntVar(&cfg.rssPID, "rss-pid", 0, "the supernode's process ID, to read its RSS and CPU time from /proc (optional)")
	fs.DurationVar(&cfg.dialTimeout, "dial-timeout", 10*time.Second, "bound on one login attempt: TCP, TLS, Hello and answer")
	fs.IntVar(&cfg.maxErrors, "max-errors", 10, "failed attempts after which a leaf gives up")
	fs.IntVar(&cfg.maxRedirects, "max-redirects", 20, "redirects after which a leaf gives up")
	fs.DurationVar(&cfg.loginTimeout, "login-timeout", 10*time.Minute, "bound on the whole login phase")
	cfg.load.flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "parley-loadgen: unexpected argument %q\n", fs.Arg(0))
		return 2
	case cfg.target == "":
		fmt.Fprintln(stderr, "parley-loadgen: --target is required")
		return 2
	case cfg.leaves < 1 || cfg.concurrency < 1 || cfg.hold < 0 || cfg.dialTimeout <= 0:
		fmt.Fprintln(stderr, "parley-loadgen: --leaves and --concurrency must be positive, --hold not negative")
		return 2
	}
	if err := cfg.load.check(cfg.leaves); err != nil {
		fmt.Fprintln(stderr, "parley-loadgen:", err)
		return 2
	}
	if err := raiseFileLimit(cfg.leaves*(1+cfg.load.standbys) + 100); err != nil {
		fmt.Fprintln(stderr, "parley-loadgen:", err)
		return 1
	}
	if cfg.rssPID != 0 {
		if _, _, err := readRSS(cfg.rssPID); err != nil {
			fmt.Fprintln(stderr, "parley-loadgen: --rss-pid:", err)
			return 2
		}
		if soft, err := processFileLimit(cfg.rssPID); err == nil && soft < uint64(cfg.leaves*(1+cfg.load.standbys))+100 {
			fmt.Fprintf(stderr, "parley-loadgen: warning: the supernode's open-file limit is %d, below the links+100\n", soft)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := newBench(cfg, stderr)
	return b.run(ctx, stdout)
}

// bench is one run. Per-leaf state is kept in flat slices indexed by leaf,
// so a held leaf costs its link, one goroutine and a few words here.
type bench struct {
	cfg config
	log io.Writer

	ids      []*identity.Identity // leaf i's at i; with standbys, the kth standby link at k*leaves+i: another leaf's, whose primary is elsewhere
	links    []*overlay.Link      // set when welcomed, by link as ids
	lastPong []atomic.Int64       // unix ns of the last Pong (or the Welcome), by link as links
	load     *loadState           // the leaves' load besides heartbeats (load.go)
	loginLat []time.Duration      // dial start to Welcome, of the attempt that succeeded
	totalLat []time.Duration      // first dial start to Welcome, across retries
	hbWG     sync.WaitGroup       // heartbeat goroutines
	stopping atomic.Bool          // links are being closed on purpose
	holding  atomic.Bool          // the hold phase is on: pongs count toward its figures
	lostAt   []atomic.Bool        // the link was lost, by link as links
	cps      []int                // leaf counts at which to read RSS, ascending
	rssAt    map[int]int64        // guarded by mu: KiB at each checkpoint reached
	errKinds map[string]int       // guarded by mu: login errors by kind
	lostWhy  map[string]int       // guarded by mu: lost leaves by reason
	rtts     []time.Duration      // guarded by mu: pong round trips during the hold
	mu       sync.Mutex
	start    time.Time    // login phase start
	lastIn   atomic.Int64 // unix ns of the latest Welcome
	counters struct {
		loggedIn, attempts, redirects, retries, errors, gaveUp atomic.Int64
		pongs, pongsHold, pingsHold, late, lost, lostInLogin   atomic.Int64
		standbysIn                                             atomic.Int64
	}
}

func newBench(cfg config, log io.Writer) *bench {
	n := cfg.leaves
	links := n * (1 + cfg.load.standbys)
	b := &bench{
		cfg:      cfg,
		log:      log,
		ids:      make([]*identity.Identity, links),
		links:    make([]*overlay.Link, links),
		lastPong: make([]atomic.Int64, links),
		loginLat: make([]time.Duration, n),
		totalLat: make([]time.Duration, n),
		lostAt:   make([]atomic.Bool, links),
		load:     newLoadState(cfg.load),
		rssAt:    make(map[int]int64),
		errKinds: make(map[string]int),
		lostWhy:  make(map[string]int),
	}
	for _, base := range []int{1000, 2000, 5000} {
		for c := base; c < n; c *= 10 {
			b.cps = append(b.cps, c)
		}
	}
	b.cps = append(b.cps, n)
	slices.Sort(b.cps)
	b.cps = slices.Compact(b.cps)
	return b
}

// figure is one output line.
type figure struct {
	name  string
	value string
}

// result is what the phases of a run measured, for the figures.
type result struct {
	rss0, rssEnd, hwm                        int64 // KiB: before, after the hold, high-water mark
	rssEndOK                                 bool
	seedCPU0, seedCPU1, seedCPU2             time.Duration // the supernode's CPU time: start, after login, after hold
	selfCPU0, selfCPU1                       time.Duration
	seedOK, selfOK                           bool
	loggedIn, lost, held                     int64
	stale                                    int
	loginEnd, holdStart, holdEnd, closeStart time.Time
	loginWall, holdDur, closeDur             time.Duration
	metricsEnd                               map[string]float64
	leftOnSeed                               float64 // leaves the supernode still held after the close; -1 unknown
}

func (b *bench) run(ctx context.Context, stdout io.Writer) int {
	cfg := b.cfg
	fmt.Fprintf(b.log, "generating %d identities...\n", len(b.ids))
	for i := range b.ids {
		id, err := identity.New(nil)
		if err != nil {
			fmt.Fprintln(b.log, "parley-loadgen:", err)
			return 1
		}
		b.ids[i] = id
	}

	r := &result{}
	b.loginPhase(ctx, r)
	b.holdPhase(ctx, r)
	b.closePhase(ctx, r)
	figs := b.figures(r)
	for _, f := range figs {
		fmt.Fprintf(stdout, "%s %s\n", f.name, f.value)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(b.log, "parley-loadgen: interrupted")
		return 1
	}
	if r.loggedIn != int64(cfg.leaves) || r.lost != 0 || r.stale != 0 {
		fmt.Fprintf(b.log, "parley-loadgen: FAIL: %d/%d logged in, %d lost, %d stale\n", r.loggedIn, cfg.leaves, r.lost, r.stale)
		return 1
	}
	if want := int64(cfg.leaves * cfg.load.standbys); b.counters.standbysIn.Load() != want {
		fmt.Fprintf(b.log, "parley-loadgen: FAIL: %d/%d standby links in\n", b.counters.standbysIn.Load(), want)
		return 1
	}
	if err := b.load.failed(); err != nil {
		fmt.Fprintln(b.log, "parley-loadgen: FAIL:", err)
		return 1
	}
	return 0
}

// loginPhase logs every leaf in, Concurrency at a time.
func (b *bench) loginPhase(ctx context.Context, r *result) {
	cfg := b.cfg
	if cfg.rssPID != 0 {
		r.rss0, _, _ = readRSS(cfg.rssPID)
	}
	r.seedCPU0, _ = cpuTime(cfg.rssPID)
	r.selfCPU0, _ = cpuTime(0)

	// Login phase.
	fmt.Fprintf(b.log, "logging in %d leaves to %s, %d at a time...\n", cfg.leaves, cfg.target, cfg.concurrency)
	lctx, lcancel := context.WithTimeout(ctx, cfg.loginTimeout)
	b.start = time.Now()
	var next atomic.Int64
	var workers sync.WaitGroup
	for range min(cfg.concurrency, cfg.leaves) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.leaves || lctx.Err() != nil {
					return
				}
				b.login(lctx, i)
			}
		}()
	}
	loginDone := make(chan struct{})
	go func() { workers.Wait(); close(loginDone) }()
	b.progress(loginDone, 2*time.Second, func() string {
		c := &b.counters
		el := time.Since(b.start).Seconds()
		return fmt.Sprintf("login: %d/%d in (%.0f/s), %d redirects, %d errors, %d lost",
			c.loggedIn.Load(), cfg.leaves, float64(c.loggedIn.Load())/el, c.redirects.Load(), c.errors.Load(), c.lost.Load())
	})
	lcancel()
	r.loggedIn = b.counters.loggedIn.Load()
	r.loginEnd = time.Unix(0, b.lastIn.Load())
	if r.loggedIn == 0 {
		r.loginEnd = time.Now()
	}
	r.loginWall = r.loginEnd.Sub(b.start)
	r.seedCPU1, r.seedOK = cpuTime(cfg.rssPID)
	r.selfCPU1, r.selfOK = cpuTime(0)
	b.counters.lostInLogin.Store(b.counters.lost.Load())
	fmt.Fprintf(b.log, "login phase over: %d/%d in %.2fs\n", r.loggedIn, cfg.leaves, r.loginWall.Seconds())

}

// holdPhase holds the leaves with heartbeats for cfg.hold, then reads the
// supernode's memory and metrics.
func (b *bench) holdPhase(ctx context.Context, r *result) {
	cfg := b.cfg
	// Hold phase.
	r.holdStart = time.Now()
	b.holding.Store(true)
	if ctx.Err() == nil && cfg.hold > 0 {
		fmt.Fprintf(b.log, "holding %d leaves for %v...\n", r.loggedIn, cfg.hold)
		hctx, hcancel := context.WithTimeout(ctx, cfg.hold)
		b.progress(hctx.Done(), 5*time.Second, func() string {
			stale := b.stale(time.Now())
			return fmt.Sprintf("hold: %.0fs/%v, %d alive, %d lost, %d stale, %d pongs",
				time.Since(r.holdStart).Seconds(), cfg.hold, r.loggedIn-b.counters.lost.Load()-int64(stale), b.counters.lost.Load(), stale, b.counters.pongsHold.Load())
		})
		hcancel()
	}
	b.holding.Store(false)
	r.holdEnd = time.Now()
	r.holdDur = r.holdEnd.Sub(r.holdStart)
	r.stale = b.stale(r.holdEnd)
	r.seedCPU2, _ = cpuTime(cfg.rssPID)
	if cfg.rssPID != 0 {
		var err error
		r.rssEnd, r.hwm, err = readRSS(cfg.rssPID)
		if err != nil {
			fmt.Fprintln(b.log, "parley-loadgen: rss:", err)
		}
		r.rssEndOK = err == nil
	}
	if cfg.metrics != "" {
		var err error
		if r.metricsEnd, err = scrape(cfg.metrics); err != nil {
			fmt.Fprintln(b.log, "parley-loadgen: metrics:", err)
		}
	}
	r.lost = b.counters.lost.Load()
	r.held = r.loggedIn - r.lost - int64(r.stale)

}

// closePhase closes every link and waits a little for the supernode to see
// them closed.
func (b *bench) closePhase(ctx context.Context, r *result) {
	cfg := b.cfg
	// Close every link cleanly.
	fmt.Fprintln(b.log, "closing links...")
	b.load.close()
	b.stopping.Store(true)
	r.closeStart = time.Now()
	var closers sync.WaitGroup
	var ci atomic.Int64
	for range 16 {
		closers.Add(1)
		go func() {
			defer closers.Done()
			for {
				i := int(ci.Add(1) - 1)
				if i >= len(b.links) {
					return
				}
				if l := b.links[i]; l != nil {
					l.Close("loadgen done")
				}
			}
		}()
	}
	closers.Wait()
	hbDone := make(chan struct{})
	go func() { b.hbWG.Wait(); close(hbDone) }()
	select {
	case <-hbDone:
	case <-time.After(30 * time.Second):
		fmt.Fprintln(b.log, "parley-loadgen: heartbeat goroutines did not all stop within 30 s")
	}
	r.closeDur = time.Since(r.closeStart)
	// Wait (a little) for the supernode to see every link closed.
	r.leftOnSeed = -1.0
	if r.metricsEnd != nil && ctx.Err() == nil {
		for deadline := time.Now().Add(10 * time.Second); ; {
			m, err := scrape(cfg.metrics)
			if err != nil {
				r.leftOnSeed = -1 // the supernode is gone
				break
			}
			r.leftOnSeed = m["parley_leaves_connected"]
			if r.leftOnSeed == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

}

// figures turns a run's result into its output lines.
func (b *bench) figures(r *result) []figure {
	cfg := b.cfg
	var figs []figure
	add := func(name string, v any) {
		var s string
		switch v := v.(type) {
		case float64:
			s = strconv.FormatFloat(round(v, 2), 'f', -1, 64)
		default:
			s = fmt.Sprint(v)
		}
		figs = append(figs, figure{name, s})
	}
	// Figures.
	c := &b.counters
	add("leaves_target", cfg.leaves)
	add("leaves_logged_in", r.loggedIn)
	add("leaves_held", r.held)
	add("leaves_lost", r.lost)
	add("leaves_lost_during_login", c.lostInLogin.Load())
	add("leaves_stale_at_end", r.stale)
	add("leaves_gave_up", c.gaveUp.Load())
	if b.cfg.load.standbys > 0 {
		add("standby_links_in", c.standbysIn.Load())
	}
	b.load.figures(add)
	add("login_concurrency", cfg.concurrency)
	add("login_wall_s", round(r.loginWall.Seconds(), 2))
	add("login_rate_per_s", float64(r.loggedIn)/max(r.loginWall.Seconds(), 1e-9))
	add("login_attempts", c.attempts.Load())
	add("login_redirects", c.redirects.Load())
	add("login_retries", c.retries.Load())
	add("login_errors", c.errors.Load())
	lat := make([]time.Duration, 0, r.loggedIn)
	total := make([]time.Duration, 0, r.loggedIn)
	for i, d := range b.loginLat {
		if b.links[i] != nil {
			lat = append(lat, d)
			total = append(total, b.totalLat[i])
		}
	}
	slices.Sort(lat)
	slices.Sort(total)
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p95", 0.95}, {"p99", 0.99}, {"max", 1}} {
		add("login_"+p.name+"_ms", ms(quantile(lat, p.q)))
	}
	add("login_incl_retries_p95_ms", ms(quantile(total, 0.95)))
	add("login_incl_retries_max_ms", ms(quantile(total, 1)))
	hb := b.heartbeat()
	add("heartbeat_s", round(hb.Seconds(), 3))
	add("hold_s", round(r.holdDur.Seconds(), 1))
	add("pongs_total", c.pongs.Load())
	add("pings_during_hold", c.pingsHold.Load())
	add("pongs_during_hold", c.pongsHold.Load())
	add("pongs_late", c.late.Load())
	b.mu.Lock()
	rtts := slices.Clone(b.rtts)
	lostWhy := b.lostWhy
	errKinds := b.errKinds
	b.mu.Unlock()
	slices.Sort(rtts)
	add("pong_rtt_p50_ms", ms(quantile(rtts, 0.5)))
	add("pong_rtt_p99_ms", ms(quantile(rtts, 0.99)))
	add("pong_rtt_max_ms", ms(quantile(rtts, 1)))
	b.resourceFigures(r, add)
	add("close_s", round(r.closeDur.Seconds(), 2))
	if r.leftOnSeed >= 0 {
		add("seed_leaves_after_close", int64(r.leftOnSeed))
	}

	for kind, n := range sortedCounts(errKinds) {
		fmt.Fprintf(b.log, "login errors: %d × %s\n", n, kind)
	}
	for why, n := range sortedCounts(lostWhy) {
		fmt.Fprintf(b.log, "lost leaves: %d × %s\n", n, why)
	}
	return figs
}

// resourceFigures adds the supernode's memory, CPU and metrics, and the
// load generator's own CPU.
func (b *bench) resourceFigures(r *result, add func(string, any)) {
	cfg := b.cfg
	mib := func(kib int64) float64 { return float64(kib) / 1024 }
	b.mu.Lock()
	rssAt := b.rssAt
	b.mu.Unlock()
	if cfg.rssPID != 0 {
		add("rss_mib_at_0", mib(r.rss0))
		for _, cp := range b.cps {
			if kib, ok := rssAt[cp]; ok {
				add(fmt.Sprintf("rss_mib_at_%d", cp), mib(kib))
			}
		}
		if r.rssEndOK {
			add("rss_mib_after_hold", mib(r.rssEnd))
			add("rss_hwm_mib", mib(r.hwm))
		}
		if kibN, ok := rssAt[cfg.leaves]; ok {
			per := float64(kibN-r.rss0) / (float64(cfg.leaves) / 1000)
			add("rss_kib_per_1000_leaves", per)
			if r.rssEndOK {
				add("rss_kib_per_1000_leaves_after_hold", float64(r.rssEnd-r.rss0)/(float64(cfg.leaves)/1000))
			}
			if cfg.leaves != 10000 {
				add("rss_mib_projected_10000", mib(r.rss0+int64(per*10)))
			}
		}
	}
	if r.seedOK && cfg.rssPID != 0 {
		seedLogin := r.seedCPU1 - r.seedCPU0
		add("seed_cpu_s_login_phase", round(seedLogin.Seconds(), 2))
		add("seed_cpu_cores_login_phase", round(seedLogin.Seconds()/max(r.loginWall.Seconds(), 1e-9), 2))
		if r.loggedIn > 0 {
			add("seed_cpu_us_per_login", float64(seedLogin.Microseconds())/float64(r.loggedIn))
			add("seed_logins_per_cpu_s", float64(r.loggedIn)/max(seedLogin.Seconds(), 1e-9))
		}
		if r.holdDur > 0 {
			add("seed_cpu_pct_of_core_hold", 100*(r.seedCPU2-r.seedCPU1).Seconds()/r.holdDur.Seconds())
		}
	}
	if r.selfOK {
		add("loadgen_cpu_s_login_phase", round((r.selfCPU1-r.selfCPU0).Seconds(), 2))
	}
	if r.metricsEnd != nil {
		for _, name := range []string{
			"parley_leaves_connected", "parley_links_open", "parley_logins_accepted_total",
			"parley_logins_redirected_total", "parley_handshake_errors_total", "go_goroutines",
		} {
			if v, ok := r.metricsEnd[name]; ok {
				add("seed_"+name, int64(v))
			}
		}
		for _, name := range []string{
			"process_resident_memory_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes",
		} {
			if v, ok := r.metricsEnd[name]; ok {
				add("seed_"+strings.TrimSuffix(name, "_bytes")+"_mib", v/(1<<20))
			}
		}
	}
}

// progress prints line() every period until done is closed.
func (b *bench) progress(done <-chan struct{}, period time.Duration, line func() string) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			fmt.Fprintln(b.log, line())
		}
	}
}

// heartbeatMS is the interval the supernode asked for, as set by the first
// Welcome (all Welcomes of one supernode carry the same).
var heartbeatMS atomic.Int64

func (b *bench) heartbeat() time.Duration {
	return time.Duration(heartbeatMS.Load()) * time.Millisecond
}

// stale counts leaves, neither lost nor closed, that have heard no Pong for
// two heartbeats and a second: their pings go unanswered.
func (b *bench) stale(now time.Time) int {
	limit := now.Add(-2*b.heartbeat() - time.Second).UnixNano()
	n := 0
	for i := range b.lastPong {
		if b.links[i] == nil || b.lostAt[i].Load() {
			continue
		}
		if t := b.lastPong[i].Load(); t != 0 && t < limit {
			n++
		}
	}
	return n
}

// login logs leaf i in, retrying redirects and errors, starts its
// heartbeats and its load (load.go), then opens its standby links the same
// way. It runs on a login worker.
func (b *bench) login(ctx context.Context, i int) {
	if !b.connect(ctx, i, 0) {
		return
	}
	for k := 1; k <= b.cfg.load.standbys; k++ {
		if !b.connect(ctx, i, k) {
			return
		}
	}
}

// connect logs leaf i's link k in (0: its primary, else its kth standby),
// retrying redirects and errors, and starts its heartbeats. It reports
// whether the link is up.
func (b *bench) connect(ctx context.Context, i, k int) bool {
	c := &b.counters
	errs, reds := 0, 0
	first := time.Now()
	j := k*b.cfg.leaves + i
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			c.retries.Add(1)
		}
		c.attempts.Add(1)
		start := time.Now()
		link, hb, red, err := b.attempt(ctx, j, k > 0)
		var wait time.Duration
		switch {
		case link != nil:
			now := time.Now()
			b.lastPong[j].Store(now.UnixNano())
			b.links[j] = link
			heartbeatMS.CompareAndSwap(0, hb.Milliseconds())
			b.hbWG.Add(1)
			go b.heartbeatLoop(j, link, hb)
			if k > 0 {
				c.standbysIn.Add(1)
				return true
			}
			b.loginLat[i] = now.Sub(start)
			b.totalLat[i] = now.Sub(first)
			b.load.started(b, i, link)
			b.lastIn.Store(now.UnixNano())
			b.checkpoint(int(c.loggedIn.Add(1)))
			return true
		case red != nil:
			c.redirects.Add(1)
			reds++
			if reds > b.cfg.maxRedirects {
				c.gaveUp.Add(1)
				return false
			}
			wait = min(time.Duration(red.RetryAfterMS)*time.Millisecond, redirectCap)
			wait += time.Duration(rand.Int64N(int64(100 * time.Millisecond)))
		default:
			if ctx.Err() != nil {
				return false
			}
			c.errors.Add(1)
			b.mu.Lock()
			b.errKinds[errKind(err)]++
			b.mu.Unlock()
			errs++
			if errs > b.cfg.maxErrors {
				c.gaveUp.Add(1)
				return false
			}
			// Full jitter from 50 ms doubling to 2 s, so leaves shed together do
			// not come back together.
			ceil := min(50*time.Millisecond<<errs, 2*time.Second)
			wait = time.Duration(rand.Int64N(int64(ceil))) + 10*time.Millisecond
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
}

// attempt is one login of identity j: TLS link, Hello, answer. It returns
// the welcomed link and the heartbeat interval, or the Redirect, or an
// error.
func (b *bench) attempt(ctx context.Context, j int, standby bool) (*overlay.Link, time.Duration, *wire.Redirect, error) {
	dctx, cancel := context.WithTimeout(ctx, b.cfg.dialTimeout)
	defer cancel()
	link, err := overlay.DialLink(dctx, overlay.TCP{}, b.ids[j], b.cfg.target, identity.NodeID{})
	if err != nil {
		return nil, 0, nil, err
	}
	if err := link.Send(&wire.Hello{Role: wire.RoleLeaf, Standby: standby, Software: "parley-loadgen"}); err != nil {
		link.Close("")
		return nil, 0, nil, fmt.Errorf("send hello: %w", err)
	}
	deadline, _ := dctx.Deadline()
	wait := time.Until(deadline)
	if wait <= 0 {
		link.Close("")
		return nil, 0, nil, fmt.Errorf("answer to hello: %w", context.DeadlineExceeded)
	}
	m, err := link.Recv(wait)
	if err != nil {
		link.Close("")
		return nil, 0, nil, fmt.Errorf("answer to hello: %w", err)
	}
	switch m := m.(type) {
	case *wire.Welcome:
		hb := time.Duration(m.HeartbeatMS) * time.Millisecond
		if hb < 100*time.Millisecond {
			link.Close("bad heartbeat")
			return nil, 0, nil, fmt.Errorf("welcome with heartbeat %v", hb)
		}
		return link, hb, nil, nil
	case *wire.Redirect:
		link.Close("")
		return nil, 0, m, nil
	default:
		link.Close("unexpected message")
		return nil, 0, nil, fmt.Errorf("answer to hello is %T", m)
	}
}

// heartbeatLoop is leaf i's only goroutine once it is welcomed. It pings every
// hb (first at a random point of the first interval, to spread the load) and
// reads whatever the supernode sends, using the read deadline as its timer.
// It ends when the link fails; unless the link was closed on purpose, the
// leaf is then lost.
func (b *bench) heartbeatLoop(i int, link *overlay.Link, hb time.Duration) {
	defer b.hbWG.Done()
	c := &b.counters
	var (
		seq      uint64
		sentAt   time.Time
		awaiting bool // the Pong to seq has not come yet
		heard    = time.Now()
		next     = heard.Add(time.Duration(rand.Int64N(int64(hb))))
	)
	lose := func(why string) {
		if b.stopping.Load() {
			return
		}
		b.lostAt[i].Store(true)
		c.lost.Add(1)
		b.mu.Lock()
		b.lostWhy[why]++
		b.mu.Unlock()
		link.Close("")
	}
	for {
		if wait := time.Until(next); wait > 0 {
			m, err := link.Recv(wait)
			if err != nil {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					lose(readErrKind(err))
					return
				}
				// The deadline is the ping timer; fall through to ping.
			} else {
				now := time.Now()
				heard = now
				switch m := m.(type) {
				case *wire.Pong:
					c.pongs.Add(1)
					b.lastPong[i].Store(now.UnixNano())
					if b.holding.Load() {
						c.pongsHold.Add(1)
					}
					if awaiting && m.Seq == seq {
						awaiting = false
						if b.holding.Load() {
							b.mu.Lock()
							if len(b.rtts) < 1<<22 {
								b.rtts = append(b.rtts, now.Sub(sentAt))
							}
							b.mu.Unlock()
						}
					}
				case *wire.Ping:
					link.Send(&wire.Pong{Seq: m.Seq})
				case *wire.Notify, *wire.StoreResult, *wire.DeliverResult:
					b.load.heard(m)
				case *wire.Bye:
					lose("supernode said bye: " + m.Reason)
					return
				}
				continue
			}
		}
		now := time.Now()
		if awaiting {
			c.late.Add(1) // no Pong within one heartbeat
		}
		if now.Sub(heard) >= 3*hb {
			lose("nothing heard for 3 heartbeats")
			return
		}
		seq++
		sentAt, awaiting = now, true
		if b.holding.Load() {
			c.pingsHold.Add(1)
		}
		if err := link.Send(&wire.Ping{Seq: seq}); err != nil {
			lose("send ping: " + readErrKind(err))
			return
		}
		next = next.Add(hb)
		if next.Before(now) {
			next = now.Add(hb)
		}
	}
}

// checkpoint reads the supernode's RSS when n is one of the leaf counts to
// record. Exactly one login reaches each n.
func (b *bench) checkpoint(n int) {
	if b.cfg.rssPID == 0 {
		return
	}
	if _, ok := slices.BinarySearch(b.cps, n); !ok {
		return
	}
	kib, _, err := readRSS(b.cfg.rssPID)
	if err != nil {
		fmt.Fprintln(b.log, "parley-loadgen: rss:", err)
		return
	}
	b.mu.Lock()
	b.rssAt[n] = kib
	b.mu.Unlock()
	fmt.Fprintf(b.log, "  %d leaves in after %.2fs: supernode RSS %.1f MiB\n", n, time.Since(b.start).Seconds(), float64(kib)/1024)
}

// errKind names a login error for the summary.
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset (shed during handshake?)"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed by supernode (shed during handshake?)"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no local port free"
	}
	s := err.Error()
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// readErrKind names why an established link's read or write failed.
func readErrKind(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "closed by supernode"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "closed by supernode mid-frame"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset by supernode"
	case errors.Is(err, overlay.ErrClosed):
		return "closed"
	}
	return errKind(err)
}

// readRSS returns VmRSS and VmHWM of process pid, in KiB.
func readRSS(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 1 {
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, name, err)
		}
		if name == "VmRSS" {
			rss = v
		} else {
			hwm = v
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return rss, hwm, nil
}

// cpuTime returns the user plus system CPU time of process pid (this
// process if pid is 0), all threads, from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, bool) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	// Fields after "(comm)" start at field 3 (state); utime and stime are
	// fields 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * time.Second / clockTicks, true
}

// processFileLimit returns the soft open-file limit of process pid.
func processFileLimit(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				if f[0] == "unlimited" {
					return math.MaxUint64, nil
				}
				return strconv.ParseUint(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/limits: no open-file limit", pid)
}

// scrape fetches a Prometheus text page and returns its unlabelled samples.
func scrape(url string) (map[string]float64, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64)
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || strings.ContainsRune(f[0], '{') {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out, nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 2) }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// sortedCounts returns m's entries, most frequent first, as an ordered
// sequence.
func sortedCounts(m map[string]int) func(yield func(string, int) bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	return func(yield func(string, int) bool) {
		for _, k := range keys {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}
