// Command parley-sim runs Parley's real overlay code for thousands of
// peers over an in-memory network in virtual time, and prints what it
// measured: one "name value" line per figure, then a summary table.
//
//	parley-sim [--scenario join|churn|bootstorm|tier|all] [--nodes 10000] [--seed 1]
//	           [--no-host-cache] [--churn-duration 1h] [--cpuprofile FILE]
//	           [--gc-percent 400]
//
// Scenarios:
//
//	join       N peers join through 3 seeds at 100 a second
//	churn      from steady state, 20% of peers per hour crash and return,
//	           with lookups of claimed names running all along
//	bootstorm  from steady state, 60% of peers and 80% of supernodes crash
//	           and restart within 2 virtual minutes (Skype, August 2007);
//	           with --no-host-cache they restart without their host caches
//	tier       the supernode tier alone: N supernodes and 3 seeds; links,
//	           membership traffic, convergence, strict lookups, a stop
//
// It also prints its own wall time and peak memory. Virtual time comes from
// a testing/synctest bubble, entered through testing.Main, which the testing
// package keeps for programs like this one.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"text/tabwriter"
	"time"

	"github.com/parleynet/parley/internal/simulation"
)

func main() {
	fs := flag.NewFlagSet("parley-sim", flag.ContinueOnError)
	scenario := fs.String("scenario", "join", "join, churn, bootstorm, tier (the supernode tier alone: --nodes supernodes) or all")
	nodes := fs.Int("nodes", 10000, "peers besides the seeds")
	seed := fs.Uint64("seed", 1, "random seed: the same seed, the same inputs")
	noCache := fs.Bool("no-host-cache", false, "bootstorm: peers restart without their host caches")
	churnDur := fs.Duration("churn-duration", time.Hour, "churn: how long to churn (virtual)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	gcPercent := fs.Int("gc-percent", 400, "Go GC target percentage (higher: faster, more memory)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	var runs []func(simulation.Params) simulation.Report
	for _, s := range strings.Split(*scenario, ",") {
		switch s {
		case "join":
			runs = append(runs, simulation.Join)
		case "churn":
			runs = append(runs, func(p simulation.Params) simulation.Report { return simulation.Churn(p, *churnDur) })
		case "bootstorm":
			runs = append(runs, simulation.Bootstorm)
		case "tier":
			runs = append(runs, simulation.Tier)
		case "all":
			runs = append(runs, simulation.Join, simulation.Bootstorm,
				func(p simulation.Params) simulation.Report { return simulation.Churn(p, *churnDur) })
		default:
			fmt.Fprintf(os.Stderr, "parley-sim: unknown scenario %q (join, churn, bootstorm, tier, all)\n", s)
			os.Exit(2)
		}
	}
	if *nodes < 1 {
		fmt.Fprintln(os.Stderr, "parley-sim: --nodes must be at least 1")
		os.Exit(2)
	}
	params := simulation.Params{Seed: *seed, Nodes: *nodes, NoHostCache: *noCache}

	var reports []simulation.Report
	var wall []time.Duration
	run := func(t *testing.T) {
		for _, f := range runs {
			start := time.Now()
			synctest.Test(t, func(t *testing.T) { reports = append(reports, f(params)) })
			wall = append(wall, time.Since(start))
		}
		pprof.StopCPUProfile() // a no-op without --cpuprofile
		printReports(reports, wall)
	}
	debug.SetGCPercent(*gcPercent)
	// testing.Main parses its own flags from os.Args: give it only its own.
	os.Args = []string{os.Args[0], "-test.run=^Simulation$"}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "parley-sim: %v\n", err)
			os.Exit(1)
		}
		// testing.Main's own -test.cpuprofile needs the go test driver.
		// testing.Main exits the process: run stops the profile.
		pprof.StartCPUProfile(f)
		// A long run stopped by hand (^C, a kill) still leaves its
		// profile: what it shows is often why it was stopped.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		go func() {
			sig := <-sigs
			pprof.StopCPUProfile()
			f.Close()
			fmt.Fprintf(os.Stderr, "parley-sim: %v: stopped; the CPU profile so far is in %s\n", sig, *cpuProfile)
			os.Exit(130)
		}()
	}
	testing.Main(func(pat, str string) (bool, error) { return pat == "^Simulation$" && str == "Simulation", nil },
		[]testing.InternalTest{{Name: "Simulation", F: run}}, nil, nil)
}

func printReports(reports []simulation.Report, wall []time.Duration) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	peak := peakRSS()
	for i, r := range reports {
		for _, f := range r.Figures {
			fmt.Printf("%s %g\n", f.Name, round(f.Value))
		}
		fmt.Printf("%s_wall_s %g\n", r.Scenario, round(wall[i].Seconds()))
	}
	fmt.Printf("sim_peak_rss_mib %g\n", round(peak))
	fmt.Printf("sim_go_sys_mib %g\n", round(float64(ms.Sys)/(1<<20)))
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tunit")
	for i, r := range reports {
		for _, f := range r.Figures {
			fmt.Fprintf(tw, "%s\t%g\t%s\n", f.Name, round(f.Value), f.Unit)
		}
		fmt.Fprintf(tw, "%s_wall_s\t%g\ts (wall)\n", r.Scenario, round(wall[i].Seconds()))
	}
	fmt.Fprintf(tw, "sim_peak_rss_mib\t%g\tMiB\n", round(peak))
	tw.Flush()
}

func round(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

// peakRSS reads the process's peak resident memory (VmHWM) in MiB.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			var kb float64
			fmt.Sscan(f[1], &kb)
			return kb / 1024
		}
	}
	return 0
}
