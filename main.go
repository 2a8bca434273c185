// Command parley is the Parley desktop app. With no subcommand it opens the
// window; its subcommands run the same peer headless:
//
//	parley [--profile DIR] [--seeds ADDR,...] init --username NAME
//	parley [--profile DIR] [--seeds ADDR,...] daemon [--supernode --listen HOST:PORT]
//	        [--auto-answer] [--play IN.wav] [--record OUT.wav] [--input MIC] [--output SPEAKERS]
//	parley [--profile DIR] status [--json]
//	parley [--profile DIR] lookup NAME
//	parley [--profile DIR] supernode [on|off]
//	parley [--profile DIR] contacts [--json]
//	parley [--profile DIR] add NAME [--message TEXT]
//	parley [--profile DIR] accept|decline|block|remove|verify|accept-key NAME
//	parley [--profile DIR] send NAME TEXT...
//	parley [--profile DIR] call NAME [--play IN.wav] [--record OUT.wav] [--duration 10s]
//	parley [--profile DIR] messages NAME [--limit N] [--json]
//	parley [--profile DIR] export FILE [--password-file PWFILE]
//	parley [--profile DIR] import FILE [--password-file PWFILE]
//	parley --version
//
// --profile and --seeds can also come from PARLEY_PROFILE and PARLEY_SEEDS.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/internal/cli"
	"github.com/parleynet/parley/overlay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "parley:", err)
	}
	os.Exit(cli.ExitCode(err))
}

// globals are the flags every subcommand shares.
type globals struct {
	profile  string
	seeds    string
	logLevel string
}

func (g *globals) profileDir() (string, error) {
	if g.profile != "" {
		return g.profile, nil
	}
	return app.DefaultProfileDir()
}

func (g *globals) seedList() ([]overlay.SeedAddr, error) {
	if g.seeds == "" {
		return nil, nil // the defaults
	}
	s, err := overlay.ParseSeeds(g.seeds)
	if err != nil {
		return nil, cli.UsageError{Err: err}
	}
	return s, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var g globals
	rootFS := flag.NewFlagSet("parley", flag.ContinueOnError)
	rootFS.SetOutput(stderr)
	rootFS.StringVar(&g.profile, "profile", "", "profile directory (default: the user data directory's parley folder, e.g. ~/.local/share/parley)")
	rootFS.StringVar(&g.seeds, "seeds", "", "seed supernodes, comma-separated host:port or NODEID@host:port (default: the project's seeds)")
	rootFS.StringVar(&g.logLevel, "log-level", "info", "debug, info, warn or error")
	version := rootFS.Bool("version", false, "print the version and exit")
	minimized := rootFS.Bool("minimized", false, "start the desktop app in the tray, without its window (start at login)")
	uiPlay := rootFS.String("play", "", "desktop app without a sound card: a WAV file or tone:HZ to send in calls instead of the microphone")
	uiRecord := rootFS.String("record", "", "desktop app without a sound card: a WAV file to record calls into instead of playing them")
	uiListen := rootFS.String("listen", "", "desktop app: the overlay address (TCP and UDP) to offer as a supernode, host:port (default :4717)")

	initFS := flag.NewFlagSet("parley init", flag.ContinueOnError)
	initFS.SetOutput(stderr)
	username := initFS.String("username", "", "the username to claim (3-32 letters, digits, '.', '_', '-')")

	daemonFS := flag.NewFlagSet("parley daemon", flag.ContinueOnError)
	daemonFS.SetOutput(stderr)
	supernode := daemonFS.Bool("supernode", false, "serve as a supernode from the start and never demote (an operator's choice)")
	noSupernode := daemonFS.Bool("no-supernode", false, "never serve as a supernode, even if elected")
	listen := daemonFS.String("listen", fmt.Sprintf(":%d", overlay.DefaultPort), "overlay address, TCP and UDP, to serve on or to offer as a supernode, host:port")
	advertise := daemonFS.String("advertise", "", "supernode address peers should dial, if not the listen address")
	var ca callAudio
	autoAnswer := daemonFS.Bool("auto-answer", false, "answer every call from a contact")
	daemonFS.StringVar(&ca.play, "play", "", "a WAV file to play as the microphone in calls (looped), or tone:HZ for a sine tone")
	daemonFS.StringVar(&ca.record, "record", "", "a WAV file to record what calls bring in (48 kHz mono)")
	daemonFS.StringVar(&ca.input, "input", "", "the microphone to use (a name or part of one; default: the system's)")
	daemonFS.StringVar(&ca.output, "output", "", "the speakers to use (a name or part of one; default: the system's)")

	callFS := flag.NewFlagSet("parley call", flag.ContinueOnError)
	callFS.SetOutput(stderr)
	callPlay := callFS.String("play", "", "a WAV file to play as the microphone, or tone:HZ for a sine tone")
	callRecord := callFS.String("record", "", "a WAV file to record what is heard")
	callDuration := callFS.Duration("duration", 10*time.Second, "how long to talk once connected")

	statusFS := flag.NewFlagSet("parley status", flag.ContinueOnError)
	statusFS.SetOutput(stderr)
	asJSON := statusFS.Bool("json", false, "print the status as JSON")

	addFS := flag.NewFlagSet("parley add", flag.ContinueOnError)
	addFS.SetOutput(stderr)
	addMessage := addFS.String("message", "", "a short message to go with the request")
	contactsFS := flag.NewFlagSet("parley contacts", flag.ContinueOnError)
	contactsFS.SetOutput(stderr)
	contactsJSON := contactsFS.Bool("json", false, "print as JSON")
	messagesFS := flag.NewFlagSet("parley messages", flag.ContinueOnError)
	messagesFS.SetOutput(stderr)
	messagesLimit := messagesFS.Int("limit", 50, "how many of the last messages")
	messagesJSON := messagesFS.Bool("json", false, "print as JSON")

	// client runs fn with the daemon's control socket.
	client := func(fn func(*app.Client) error) error {
		dir, err := g.profileDir()
		if err != nil {
			return err
		}
		c, err := app.Dial(dir)
		if err != nil {
			return err
		}
		return fn(c)
	}
	printJSON := func(v any) error {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	contactCmds := []*ffcli.Command{
		{
			Name:       "contacts",
			ShortUsage: "parley [--profile DIR] contacts [--json]",
			ShortHelp:  "list contacts and requests, with presence and unread messages",
			FlagSet:    contactsFS,
			Exec: func(ctx context.Context, args []string) error {
				return client(func(c *app.Client) error {
					cs, err := c.Contacts()
					if err != nil {
						return err
					}
					if *contactsJSON {
						return printJSON(cs)
					}
					for _, ci := range cs {
						extra := ""
						if ci.KeyChanged {
							extra += "  KEY CHANGED (parley accept-key " + ci.Username + " after checking)"
						}
						if ci.Unread > 0 {
							extra += fmt.Sprintf("  %d unread", ci.Unread)
						}
						if ci.Request != "" && ci.State == "incoming" {
							extra += fmt.Sprintf("  %q", ci.Request)
						}
						fmt.Fprintf(stdout, "%-20s %-9s %-8s%s\n", ci.Username, ci.State, ci.Presence, extra)
					}
					return nil
				})
			},
		},
		{
			Name:       "add",
			ShortUsage: "parley [--profile DIR] add NAME [--message TEXT]",
			ShortHelp:  "look NAME up and send a contact request",
			FlagSet:    addFS,
			Exec: func(ctx context.Context, args []string) error {
				name, err := oneName(addFS, "add", args)
				if err != nil {
					return err
				}
				return client(func(c *app.Client) error {
					ci, err := c.AddContact(name, *addMessage)
					if err != nil {
						return err
					}
					fmt.Fprintf(stdout, "%s: %s\nfingerprint:   %s\nsafety number: %s\n", ci.Username, ci.State, ci.Fingerprint, ci.SafetyNumber)
					return nil
				})
			},
		},
		{
			Name:       "call",
			ShortUsage: "parley [--profile DIR] call NAME [--play IN.wav] [--record OUT.wav] [--duration 10s]",
			ShortHelp:  "call a contact from the running daemon, talk for the duration, hang up",
			FlagSet:    callFS,
			Exec: func(ctx context.Context, args []string) error {
				name, err := oneName(callFS, "call", args)
				if err != nil {
					return err
				}
				abs := func(p string) (string, error) {
					if p == "" || strings.HasPrefix(p, "tone:") {
						return p, nil
					}
					return filepath.Abs(p)
				}
				play, err := abs(*callPlay)
				if err != nil {
					return err
				}
				record, err := abs(*callRecord)
				if err != nil {
					return err
				}
				return client(func(c *app.Client) error {
					ci, err := c.CallFor(name, play, record, *callDuration)
					if ci.ID != "" {
						fmt.Fprintf(stdout, "call %s with %s: %s, %.1f s, path %s (relayed %v), packets sent %d, received %d\n",
							ci.ID, ci.Username, cmp.Or(ci.Outcome, ci.State), ci.Seconds, cmp.Or(ci.Path, "none"), ci.Relayed, ci.Sent, ci.Received)
					}
					return err
				})
			},
		},
		{
			Name:       "send",
			ShortUsage: "parley [--profile DIR] send NAME TEXT...",
			ShortHelp:  "send a message; it is stored when this returns and delivered as soon as possible",
			Exec: func(ctx context.Context, args []string) error {
				if len(args) < 2 {
					return cli.UsageError{Err: errors.New("send: give NAME and the text")}
				}
				return client(func(c *app.Client) error {
					m, err := c.Send(args[0], strings.Join(args[1:], " "))
					if err != nil {
						return err
					}
					fmt.Fprintf(stdout, "%s %s\n", m.ID, m.State)
					return nil
				})
			},
		},
		{
			Name:       "messages",
			ShortUsage: "parley [--profile DIR] messages NAME [--limit N] [--json]",
			ShortHelp:  "print the last messages with NAME, oldest first, and mark them read",
			FlagSet:    messagesFS,
			Exec: func(ctx context.Context, args []string) error {
				name, err := oneName(messagesFS, "messages", args)
				if err != nil {
					return err
				}
				return client(func(c *app.Client) error {
					ms, err := c.Messages(name, *messagesLimit)
					if err != nil {
						return err
					}
					if *messagesJSON {
						return printJSON(ms)
					}
					for _, m := range ms {
						who := "me"
						if m.Incoming {
							who = name
						}
						fmt.Fprintf(stdout, "%s %-10s %-9s %s\n", m.Sent.Local().Format("2006-01-02 15:04:05"), who, m.State, m.Body)
					}
					return nil
				})
			},
		},
	}
	for _, a := range []app.ContactAction{app.ActionAccept, app.ActionDecline, app.ActionBlock, app.ActionRemove, app.ActionVerify, app.ActionAcceptKey} {
		contactCmds = append(contactCmds, &ffcli.Command{
			Name:       string(a),
			ShortUsage: "parley [--profile DIR] " + string(a) + " NAME",
			ShortHelp:  map[app.ContactAction]string{app.ActionAccept: "accept NAME's contact request", app.ActionDecline: "decline NAME's contact request", app.ActionBlock: "block NAME: nothing from them is taken any more", app.ActionRemove: "remove NAME as a contact, on both sides", app.ActionVerify: "mark NAME's key as checked (you compared the safety number)", app.ActionAcceptKey: "accept NAME's new key after a key-change warning"}[a],
			Exec: func(ctx context.Context, args []string) error {
				name, err := oneName(nil, string(a), args)
				if err != nil {
					return err
				}
				return client(func(c *app.Client) error {
					ci, err := c.Act(name, a)
					if err != nil {
						return err
					}
					fmt.Fprintf(stdout, "%s: %s\n", ci.Username, ci.State)
					return nil
				})
			},
		})
	}

	root := &ffcli.Command{
		Name:       "parley",
		ShortUsage: "parley [--profile DIR] [--seeds ADDR,...] [<subcommand>]",
		ShortHelp:  "Parley: peer-to-peer messaging and calls. With no subcommand, opens the window.",
		FlagSet:    rootFS,
		Options:    []ff.Option{ff.WithEnvVarPrefix("PARLEY")},
		Subcommands: []*ffcli.Command{
			{
				Name:       "init",
				ShortUsage: "parley [--profile DIR] init --username NAME",
				ShortHelp:  "create the profile and its identity",
				FlagSet:    initFS,
				Exec: func(ctx context.Context, args []string) error {
					if *username == "" || len(args) > 0 {
						return cli.UsageError{Err: errors.New("init: --username NAME is required, and nothing else")}
					}
					dir, err := g.profileDir()
					if err != nil {
						return err
					}
					seeds, err := g.seedList()
					if err != nil {
						return err
					}
					prof, err := app.Init(ctx, dir, *username, app.Options{Seeds: seeds})
					if err != nil {
						return err
					}
					defer prof.Close()
					fmt.Fprintf(stdout, "profile:     %s\nusername:    %s\nnode id:     %s\nfingerprint: %s\n",
						dir, prof.Username, prof.Identity.NodeID(), prof.Fingerprint())
					if prof.Note != "" {
						fmt.Fprintf(stderr, "note: %s\n", prof.Note)
					}
					return nil
				},
			},
			{
				Name:       "daemon",
				ShortUsage: "parley [--profile DIR] [--seeds ...] daemon [--supernode --listen HOST:PORT]",
				ShortHelp:  "run the peer headless until SIGTERM",
				FlagSet:    daemonFS,
				Exec: func(ctx context.Context, args []string) error {
					if len(args) > 0 {
						return cli.UsageError{Err: fmt.Errorf("daemon: unexpected argument %q", args[0])}
					}
					if *supernode && *noSupernode {
						return cli.UsageError{Err: errors.New("daemon: --supernode and --no-supernode contradict each other")}
					}
					return daemon(ctx, &g, app.Options{Supernode: *supernode, NoSupernode: *noSupernode, Listen: *listen, Advertise: *advertise, Control: true, AutoAnswer: *autoAnswer}, &ca, stderr)
				},
			},
			{
				Name:       "supernode",
				ShortUsage: "parley [--profile DIR] supernode [on|off]",
				ShortHelp:  "allow (on) or forbid (off) this peer to serve as a supernode when elected; prints the setting",
				Exec: func(ctx context.Context, args []string) error {
					if len(args) > 1 || (len(args) == 1 && args[0] != "on" && args[0] != "off") {
						return cli.UsageError{Err: errors.New("supernode: give on, off or nothing")}
					}
					dir, err := g.profileDir()
					if err != nil {
						return err
					}
					prof, err := app.Open(ctx, dir)
					if err != nil {
						return err
					}
					defer prof.Close()
					if len(args) == 1 {
						if err := prof.SetSupernodeRole(ctx, args[0] == "on"); err != nil {
							return err
						}
					}
					off, err := prof.SupernodeRoleOff(ctx)
					if err != nil {
						return err
					}
					if off {
						fmt.Fprintln(stdout, "supernode role: off (this peer never offers to serve)")
					} else {
						fmt.Fprintln(stdout, "supernode role: on (this peer serves if elected)")
					}
					return nil
				},
			},
			{
				Name:       "lookup",
				ShortUsage: "parley [--profile DIR] lookup NAME",
				ShortHelp:  "look a username up in the directory: its key's fingerprint and presence",
				Exec: func(ctx context.Context, args []string) error {
					if len(args) != 1 {
						return cli.UsageError{Err: errors.New("lookup: give exactly one NAME")}
					}
					dir, err := g.profileDir()
					if err != nil {
						return err
					}
					var r app.LookupResult
					if c, err := app.Dial(dir); err == nil {
						r, err = c.Lookup(args[0])
						if err != nil {
							return err
						}
					} else if errors.Is(err, app.ErrNotRunning) {
						// No daemon: log in just for this lookup.
						seeds, err := g.seedList()
						if err != nil {
							return err
						}
						prof, err := app.Open(ctx, dir)
						if err != nil {
							return err
						}
						defer prof.Close()
						if r, err = app.LookupOnce(ctx, prof, app.Options{Seeds: seeds}, args[0]); err != nil {
							return err
						}
					} else {
						return err
					}
					fmt.Fprintf(stdout, "name:        %s\nnode id:     %s\nfingerprint: %s\npresence:    %s\nhops:        %d\n",
						r.Name, r.NodeID, r.Fingerprint, r.Presence, r.Hops)
					return nil
				},
			},
			{
				Name:       "status",
				ShortUsage: "parley [--profile DIR] status [--json]",
				ShortHelp:  "show the running daemon's identity, role and supernode links",
				FlagSet:    statusFS,
				Exec: func(ctx context.Context, args []string) error {
					dir, err := g.profileDir()
					if err != nil {
						return err
					}
					c, err := app.Dial(dir)
					if err != nil {
						return err
					}
					st, err := c.Status()
					if err != nil {
						return err
					}
					if *asJSON {
						enc := json.NewEncoder(stdout)
						enc.SetIndent("", "  ")
						return enc.Encode(st)
					}
					printStatus(stdout, st)
					return nil
				},
			},
		},
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return cli.UsageError{Err: fmt.Errorf("unknown subcommand %q (see parley --help)", args[0])}
			}
			dir, err := g.profileDir()
			if err != nil {
				return err
			}
			seeds, err := g.seedList()
			if err != nil {
				return err
			}
			log, err := cli.Logger(stderr, g.logLevel)
			if err != nil {
				return err
			}
			return runDesktop(ctx, dir, seeds, g.seeds != "", *minimized, *uiPlay, *uiRecord, *uiListen, log)
		},
	}
	root.Subcommands = append(root.Subcommands, contactCmds...)
	root.Subcommands = append(root.Subcommands, profileCmds(&g, os.Stdin, stdout, stderr)...)
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return cli.UsageError{Err: err}
	}
	if *version {
		fmt.Fprintln(stdout, "parley", app.VersionString())
		return nil
	}
	return root.Run(ctx)
}

func daemon(ctx context.Context, g *globals, opts app.Options, ca *callAudio, stderr io.Writer) error {
	dir, err := g.profileDir()
	if err != nil {
		return err
	}
	if opts.Seeds, err = g.seedList(); err != nil {
		return err
	}
	if opts.Logger, err = cli.Logger(stderr, g.logLevel); err != nil {
		return err
	}
	prof, err := app.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer prof.Close()
	opts.Media, opts.PrepareCall, opts.AudioReady = ca.media(), ca.prepare, ca.ready
	if err := ca.ready(); err != nil {
		opts.Logger.Warn("calls need an audio device", "why", err)
	}
	peer, err := app.NewPeer(prof, opts)
	if err != nil {
		return err
	}
	opts.Logger.Info("daemon up", "version", app.VersionString(), "profile", dir, "node", prof.Identity.NodeID().Short(), "supernode", opts.Supernode, "listen", peer.Addr())
	return peer.Run(ctx)
}

func printStatus(w io.Writer, st app.Status) {
	fmt.Fprintf(w, "node id:     %s\nfingerprint: %s\n", st.NodeID, st.Fingerprint)
	if st.Username != "" {
		fmt.Fprintf(w, "username:    %s (%s)\n", st.Username, st.Claim)
	}
	fmt.Fprintf(w, "role:        %s\nstate:       %s\n", st.Role, st.State)
	link := func(l overlay.LinkInfo) string {
		s := fmt.Sprintf("%s %s", l.ID.Short(), l.Addr)
		if l.Seed {
			s += " (seed)"
		}
		return s + fmt.Sprintf(" up %s", time.Since(l.Since).Round(time.Second))
	}
	if st.Role != app.RoleSeed {
		if st.Primary != nil {
			fmt.Fprintf(w, "primary:     %s\n", link(*st.Primary))
		} else {
			fmt.Fprintf(w, "primary:     none\n")
		}
		for _, s := range st.Standbys {
			fmt.Fprintf(w, "standby:     %s\n", link(s))
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

// oneName returns the one NAME argument of command cmd, with the flags of
// fs (if any) allowed after it as well as before.
func oneName(fs *flag.FlagSet, cmd string, args []string) (string, error) {
	if fs != nil {
		var err error
		if args, err = interspersed(fs, args); err != nil {
			return "", err
		}
	}
	if len(args) != 1 {
		return "", cli.UsageError{Err: fmt.Errorf("%s: give exactly one NAME", cmd)}
	}
	return args[0], nil
}

// interspersed parses the flags of fs that follow positional arguments
// (the flag package stops at the first one), so that "add NAME --message
// TEXT" works as well as "add --message TEXT NAME". It returns the
// positional arguments.
func interspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		if !strings.HasPrefix(args[0], "-") {
			pos = append(pos, args[0])
			args = args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			return nil, cli.UsageError{Err: err}
		}
		args = fs.Args()
	}
	return pos, nil
}
