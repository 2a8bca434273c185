// Package parleycli is the parley command tree: with no subcommand it opens
// the desktop window; its subcommands run the same peer headless:
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
// Each command is one small function in the file of its group (profile,
// daemon, contacts, call, desktop); they speak to the peer only through
// package app.
package parleycli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/app/control"
	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/internal/cli"
)

// env is what every command shares: the global flags and the standard
// streams.
type env struct {
	profile  string
	seeds    string
	logLevel string

	stdin          *os.File
	stdout, stderr io.Writer
}

// profileDir returns --profile, or the platform's default.
func (e *env) profileDir() (string, error) {
	if e.profile != "" {
		return e.profile, nil
	}
	return profile.DefaultDir()
}

// seedList parses --seeds; none gives the defaults.
func (e *env) seedList() (app.Seeds, error) {
	s, err := app.ParseSeeds(strings.Split(e.seeds, ","))
	if err != nil {
		return nil, cli.UsageError{Err: err}
	}
	return s, nil
}

// profileAndSeeds returns --profile (or the default) and --seeds.
func (e *env) profileAndSeeds() (string, app.Seeds, error) {
	dir, err := e.profileDir()
	if err != nil {
		return "", nil, err
	}
	seeds, err := e.seedList()
	return dir, seeds, err
}

// flags returns a flag set for command name that reports to stderr.
func (e *env) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// client runs fn with the control socket of the peer running on the profile.
func (e *env) client(fn func(*control.Client) error) error {
	dir, err := e.profileDir()
	if err != nil {
		return err
	}
	c, err := control.Dial(dir)
	if err != nil {
		return err
	}
	return fn(c)
}

// printJSON prints v as indented JSON.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Main runs the parley command line args, says what went wrong on stderr
// and returns the process's exit code.
func Main(ctx context.Context, args []string, stdin *os.File, stdout, stderr io.Writer) int {
	err := Run(ctx, args, stdin, stdout, stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stderr, "parley:", err)
	}
	return cli.ExitCode(err)
}

// Run runs the parley command line args. It returns flag.ErrHelp after
// help was printed; other errors map to exit codes with cli.ExitCode.
func Run(ctx context.Context, args []string, stdin *os.File, stdout, stderr io.Writer) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	fs := e.flags("parley")
	fs.StringVar(&e.profile, "profile", "", "profile directory (default: the user data directory's parley folder, e.g. ~/.local/share/parley)")
	fs.StringVar(&e.seeds, "seeds", "", "seed supernodes, comma-separated host:port or NODEID@host:port (default: the project's seeds)")
	fs.StringVar(&e.logLevel, "log-level", "info", "debug, info, warn or error")
	version := fs.Bool("version", false, "print the version and exit")
	root := desktopCmd(e, fs)
	root.Options = []ff.Option{ff.WithEnvVarPrefix("PARLEY")}
	root.Subcommands = []*ffcli.Command{
		initCmd(e), daemonCmd(e), supernodeCmd(e), lookupCmd(e), statusCmd(e),
		contactsCmd(e), addCmd(e), callCmd(e), sendCmd(e), messagesCmd(e),
	}
	for _, a := range contactActions {
		root.Subcommands = append(root.Subcommands, actionCmd(e, a))
	}
	root.Subcommands = append(root.Subcommands, exportCmd(e), importCmd(e))
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

// oneName returns the one NAME argument of command cmd, with the flags of
// fs (if any) allowed after it as well as before.
func oneName(fs *flag.FlagSet, cmd string, args []string) (string, error) {
	return oneArg(fs, cmd, "NAME", args)
}

// oneArg returns the one argument (called what in errors) of command cmd,
// with the flags of fs (if any) allowed after it as well as before.
func oneArg(fs *flag.FlagSet, cmd, what string, args []string) (string, error) {
	if fs != nil {
		var err error
		if args, err = interspersed(fs, args); err != nil {
			return "", err
		}
	}
	if len(args) != 1 {
		return "", cli.UsageError{Err: fmt.Errorf("%s: give exactly one %s", cmd, what)}
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
