package parleycli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/app/control"
	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/call/audio/device"
	"github.com/parleynet/parley/internal/cli"
)

// daemonCmd is 'parley daemon': the peer, headless, until SIGTERM.
func daemonCmd(e *env) *ffcli.Command {
	fs := e.flags("parley daemon")
	var opts app.Options
	fs.BoolVar(&opts.Supernode, "supernode", false, "serve as a supernode from the start and never demote (an operator's choice)")
	fs.BoolVar(&opts.NoSupernode, "no-supernode", false, "never serve as a supernode, even if elected")
	fs.StringVar(&opts.Listen, "listen", app.DefaultListen, "overlay address, TCP and UDP, to serve on or to offer as a supernode, host:port")
	fs.StringVar(&opts.Advertise, "advertise", "", "supernode address peers should dial, if not the listen address")
	fs.BoolVar(&opts.AutoAnswer, "auto-answer", false, "answer every call from a contact")
	play := fs.String("play", "", "a WAV file to play as the microphone in calls (looped), or tone:HZ for a sine tone")
	record := fs.String("record", "", "a WAV file to record what calls bring in (48 kHz mono)")
	input := fs.String("input", "", "the microphone to use (a name or part of one; default: the system's)")
	output := fs.String("output", "", "the speakers to use (a name or part of one; default: the system's)")
	return &ffcli.Command{
		Name:       "daemon",
		ShortUsage: "parley [--profile DIR] [--seeds ...] daemon [--supernode --listen HOST:PORT]",
		ShortHelp:  "run the peer headless until SIGTERM",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return cli.UsageError{Err: fmt.Errorf("daemon: unexpected argument %q", args[0])}
			}
			if opts.Supernode && opts.NoSupernode {
				return cli.UsageError{Err: errors.New("daemon: --supernode and --no-supernode contradict each other")}
			}
			r := device.NewRouter(*play, *record)
			r.SetDevices(*input, *output)
			return daemon(ctx, e, opts, r)
		},
	}
}

func daemon(ctx context.Context, e *env, opts app.Options, r *device.Router) error {
	dir, seeds, err := e.profileAndSeeds()
	if err != nil {
		return err
	}
	opts.Seeds = seeds
	if opts.Logger, err = cli.Logger(e.stderr, e.logLevel); err != nil {
		return err
	}
	prof, err := profile.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer prof.Close()
	opts.Media, opts.FileMedia, opts.AudioReady = r.Media(), device.FileMedia, r.Ready
	if err := r.Ready(); err != nil {
		opts.Logger.Warn("calls need an audio device", "why", err)
	}
	peer, err := app.NewPeer(prof, opts)
	if err != nil {
		return err
	}
	opts.Logger.Info("daemon up", "version", app.VersionString(), "profile", dir, "node", prof.NodeID()[:12], "supernode", opts.Supernode, "listen", peer.Addr())
	return control.Run(ctx, dir, peer)
}

// lookupCmd is 'parley lookup NAME': through the running daemon, or
// logging in just for it.
func lookupCmd(e *env) *ffcli.Command {
	return &ffcli.Command{
		Name:       "lookup",
		ShortUsage: "parley [--profile DIR] lookup NAME",
		ShortHelp:  "look a username up in the directory: its key's fingerprint and presence",
		Exec: func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return cli.UsageError{Err: errors.New("lookup: give exactly one NAME")}
			}
			r, err := lookup(ctx, e, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "name:        %s\nnode id:     %s\nfingerprint: %s\npresence:    %s\nhops:        %d\n",
				r.Name, r.NodeID, r.Fingerprint, r.Presence, r.Hops)
			return nil
		},
	}
}

func lookup(ctx context.Context, e *env, name string) (app.LookupResult, error) {
	dir, err := e.profileDir()
	if err != nil {
		return app.LookupResult{}, err
	}
	c, err := control.Dial(dir)
	if err == nil {
		return c.Lookup(name)
	}
	if !errors.Is(err, app.ErrNotRunning) {
		return app.LookupResult{}, err
	}
	seeds, err := e.seedList()
	if err != nil {
		return app.LookupResult{}, err
	}
	prof, err := profile.Open(ctx, dir)
	if err != nil {
		return app.LookupResult{}, err
	}
	defer prof.Close()
	return app.LookupOnce(ctx, prof, app.Options{Seeds: seeds}, name)
}

// statusCmd is 'parley status': the running daemon's identity and links.
func statusCmd(e *env) *ffcli.Command {
	fs := e.flags("parley status")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	return &ffcli.Command{
		Name:       "status",
		ShortUsage: "parley [--profile DIR] status [--json]",
		ShortHelp:  "show the running daemon's identity, role and supernode links",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			return e.client(func(c *control.Client) error {
				st, err := c.Status()
				if err != nil {
					return err
				}
				if *asJSON {
					return e.printJSON(st)
				}
				printStatus(e.stdout, st)
				return nil
			})
		},
	}
}

func printStatus(w io.Writer, st app.Status) {
	fmt.Fprintf(w, "node id:     %s\nfingerprint: %s\n", st.NodeID, st.Fingerprint)
	if st.Username != "" {
		fmt.Fprintf(w, "username:    %s (%s)\n", st.Username, st.Claim)
	}
	fmt.Fprintf(w, "role:        %s\nstate:       %s\n", st.Role, st.State)
	if st.Role != app.RoleSeed {
		if st.Primary != nil {
			l := *st.Primary
			fmt.Fprintf(w, "primary:     %s\n", linkText(l.Short(), l.Addr, l.Seed, l.Since))
		} else {
			fmt.Fprintf(w, "primary:     none\n")
		}
		for _, l := range st.Standbys {
			fmt.Fprintf(w, "standby:     %s\n", linkText(l.Short(), l.Addr, l.Seed, l.Since))
		}
	}
	if st.Candidate != "" {
		fmt.Fprintf(w, "candidate:   offers to serve as a supernode on %s\n", st.Candidate)
	}
	if sn := st.Supernode; sn != nil {
		fmt.Fprintf(w, "listen:      %s\n", st.Listen)
		fmt.Fprintf(w, "leaves:      %d (%d primary)\nlogins:      %d accepted, %d redirected\n",
			sn.Leaves, sn.PrimaryLeaves, sn.LoginsAccepted, sn.LoginsRedirected)
		fmt.Fprintf(w, "directory:   %d records, view of %d supernodes\n", sn.Records, sn.View)
		fmt.Fprintf(w, "supernodes:  %s\n", strings.Join(st.Supernodes, ", "))
	}
}

// linkText describes one supernode link for status.
func linkText(id, addr string, seed bool, since time.Time) string {
	s := id + " " + addr
	if seed {
		s += " (seed)"
	}
	return s + fmt.Sprintf(" up %s", time.Since(since).Round(time.Second))
}
