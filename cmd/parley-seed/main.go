// Command parley-seed runs a Parley seed: a supernode at a fixed address
// through which brand-new peers find the network. It is headless, builds
// without cgo and imports no GUI or audio package.
//
// Every flag can also be set from the environment as PARLEY_SEED_<FLAG>,
// e.g. PARLEY_SEED_LISTEN=0.0.0.0:4717. See README.md beside this file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "parley-seed:", err)
	}
	os.Exit(cli.ExitCode(err))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parley-seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen    = fs.String("listen", app.DefaultListen, "overlay listen address, host:port (TCP, and UDP for STUN/TURN)")
		advertise = fs.String("advertise", "", "address peers should dial, host:port (default: the listen address, or the address other seeds observe)")
		data      = fs.String("data", "/var/lib/parley-seed", "state directory (identity, host cache)")
		httpAddr  = fs.String("http", "127.0.0.1:9717", "address for /healthz and /metrics; empty to disable")
		seeds     = fs.String("seeds", "", "other seeds to link with, comma-separated host:port or NODEID@host:port")
		maxLeaves = fs.Int("max-leaves", 10000, "leaf links held before new logins are redirected")
		loginRate = fs.Float64("login-rate", 500, "logins per second accepted before new logins are redirected")
		heartbeat = fs.Duration("heartbeat", 15*time.Second, "heartbeat interval asked of leaves")
		logLevel  = fs.String("log-level", "info", "debug, info, warn or error")
		echoName  = fs.String("echo-username", "", "also run a sound-test account of this name: it accepts contacts, answers calls and plays back what it hears")
		relayPort = fs.String("relay-ports", "", "UDP ports for TURN relays, MIN-MAX, e.g. 49152-49407 for a firewall rule (default: any ephemeral port)")
		version   = fs.Bool("version", false, "print the version and exit")
	)
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix("PARLEY_SEED")); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return cli.UsageError{Err: err}
	}
	if *version {
		fmt.Fprintln(stdout, "parley-seed", app.VersionString())
		return nil
	}
	if fs.NArg() > 0 {
		return cli.UsageError{Err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	log, err := cli.Logger(stderr, *logLevel)
	if err != nil {
		return err
	}
	seedList, err := app.ParseSeeds(strings.Split(*seeds, ","))
	if err != nil {
		return cli.UsageError{Err: err}
	}
	relayMin, relayMax, err := parsePortRange(*relayPort)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	if seedList == nil {
		seedList = app.Seeds{} // none: not the built-in seeds
	}
	prof, err := app.InitNode(ctx, *data)
	if err != nil {
		return err
	}
	defer prof.Close()
	peer, err := app.NewPeer(prof, app.Options{
		Seed:       true,
		Seeds:      seedList,
		Listen:     *listen,
		Advertise:  *advertise,
		MaxLeaves:  *maxLeaves,
		LoginRate:  *loginRate,
		Heartbeat:  *heartbeat,
		Logger:     log,
		RelayPorts: [2]uint16{relayMin, relayMax},
	})
	if err != nil {
		return err
	}
	log.Info("seed up", "version", app.VersionString(), "node", prof.NodeID(), "listen", peer.Addr())
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return fmt.Errorf("http listen %s: %w", *httpAddr, err)
		}
		srv := &http.Server{Handler: handler(peer), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		log.Info("http up", "addr", ln.Addr().String())
	}
	var echoDone chan struct{}
	if *echoName != "" {
		ectx, cancel := context.WithCancel(ctx)
		defer cancel()
		echoDone = make(chan struct{})
		self := peer.AsSeed()
		go func() {
			defer close(echoDone)
			if err := app.RunEcho(ectx, filepath.Join(*data, "echo"), *echoName, self, log); err != nil && ectx.Err() == nil {
				log.Error("echo account stopped", "err", err)
			}
		}()
	}
	err = peer.Run(ctx)
	if echoDone != nil {
		<-echoDone
	}
	log.Info("seed stopped", "err", err)
	return err
}

// parsePortRange parses --relay-ports: "" (no range, both 0) or MIN-MAX
// with 1024 <= MIN <= MAX <= 65535.
func parsePortRange(s string) (lo, hi uint16, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	l, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if !ok || err1 != nil || err2 != nil || l < 1024 || h < l {
		return 0, 0, fmt.Errorf("--relay-ports %q: want MIN-MAX, two ports from 1024 to 65535, MIN <= MAX", s)
	}
	return uint16(l), uint16(h), nil
}

// handler serves /healthz and /metrics.
func handler(peer *app.Peer) http.Handler {
	sn := supernodeStats{peer}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_leaves_connected", Help: "Leaf links held (primary and standby).",
		}, func() float64 { return float64(sn.Stats().Leaves) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_leaves_primary", Help: "Leaf links that are their leaf's primary.",
		}, func() float64 { return float64(sn.Stats().PrimaryLeaves) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_links_open", Help: "Authenticated overlay links open, leaves and supernodes.",
		}, func() float64 { return float64(sn.Stats().LinksOpen) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_supernodes_linked", Help: "Other supernodes linked in the mesh.",
		}, func() float64 { return float64(sn.Stats().Supernodes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_logins_accepted_total", Help: "Leaf logins welcomed.",
		}, func() float64 { return float64(sn.Stats().LoginsAccepted) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_logins_redirected_total", Help: "Leaf logins redirected for capacity or login rate.",
		}, func() float64 { return float64(sn.Stats().LoginsRedirected) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_handshake_errors_total", Help: "Connections that failed TLS or Hello.",
		}, func() float64 { return float64(sn.Stats().HandshakeErrors) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_announces_received_total", Help: "Announcements of other supernodes received whole (about one per change in a settled tier).",
		}, func() float64 { return float64(sn.Stats().Announces) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_announces_new_total", Help: "Announcements received that were newer than the one held.",
		}, func() float64 { return float64(sn.Stats().AnnouncesNew) }),
	)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		st := sn.Stats()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "ok leaves=%d supernodes=%d\n", st.Leaves, st.Supernodes)
	})
	return mux
}

// supernodeStats reads the seed's supernode counters.
type supernodeStats struct{ peer *app.Peer }

func (s supernodeStats) Stats() app.SupernodeStats {
	st, _ := s.peer.SupernodeStats()
	return st
}
