package parleycli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/peterbourgon/ff/v3/ffcli"
	"golang.org/x/term"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/app/control"
	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/internal/cli"
)

// initCmd is 'parley init --username NAME': the profile and its identity.
func initCmd(e *env) *ffcli.Command {
	fs := e.flags("parley init")
	username := fs.String("username", "", "the username to claim (3-32 letters, digits, '.', '_', '-')")
	return &ffcli.Command{
		Name:       "init",
		ShortUsage: "parley [--profile DIR] init --username NAME",
		ShortHelp:  "create the profile and its identity",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			if *username == "" || len(args) > 0 {
				return cli.UsageError{Err: errors.New("init: --username NAME is required, and nothing else")}
			}
			dir, seeds, err := e.profileAndSeeds()
			if err != nil {
				return err
			}
			prof, err := app.Init(ctx, dir, *username, app.Options{Seeds: seeds})
			if err != nil {
				return err
			}
			defer prof.Close()
			printProfile(e.stdout, dir, prof)
			if prof.Note != "" {
				fmt.Fprintf(e.stderr, "note: %s\n", prof.Note)
			}
			return nil
		},
	}
}

// printProfile prints who a profile made or imported is.
func printProfile(w io.Writer, dir string, prof *profile.Profile) {
	fmt.Fprintf(w, "profile:     %s\nusername:    %s\nnode id:     %s\nfingerprint: %s\n",
		dir, prof.Username, prof.NodeID(), prof.Fingerprint())
}

// supernodeCmd is 'parley supernode [on|off]': may this peer serve when
// elected.
func supernodeCmd(e *env) *ffcli.Command {
	return &ffcli.Command{
		Name:       "supernode",
		ShortUsage: "parley [--profile DIR] supernode [on|off]",
		ShortHelp:  "allow (on) or forbid (off) this peer to serve as a supernode when elected; prints the setting",
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 1 || (len(args) == 1 && args[0] != "on" && args[0] != "off") {
				return cli.UsageError{Err: errors.New("supernode: give on, off or nothing")}
			}
			dir, err := e.profileDir()
			if err != nil {
				return err
			}
			prof, err := profile.Open(ctx, dir)
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
				fmt.Fprintln(e.stdout, "supernode role: off (this peer never offers to serve)")
			} else {
				fmt.Fprintln(e.stdout, "supernode role: on (this peer serves if elected)")
			}
			return nil
		},
	}
}

// exportCmd is 'parley export FILE': the profile moved to another computer
// as a password-sealed file (profile.Export). The password is typed
// without echo when stdin is a terminal, or read from --password-file; it
// is never a flag's value, which other users can see in the process list.
func exportCmd(e *env) *ffcli.Command {
	fs := e.flags("parley export")
	pwFile := fs.String("password-file", "", "read the password from the first line of this file instead of the terminal")
	return &ffcli.Command{
		Name:       "export",
		ShortUsage: "parley [--profile DIR] export FILE [--password-file PWFILE]",
		ShortHelp:  "write the profile (identity, contacts, history) to a new file sealed with a password, to move it to another computer",
		LongHelp: "Works while Parley runs on the profile (through its control socket) or not.\n" +
			"The file holds your identity's private key: keep it as safe as the password.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			file, err := oneArg(fs, "export", "FILE", args)
			if err != nil {
				return err
			}
			dir, err := e.profileDir()
			if err != nil {
				return err
			}
			pw, err := readPassword(*pwFile, true, e.stdin, e.stderr)
			if err != nil {
				return err
			}
			who, err := export(ctx, dir, file, pw)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "exported %s to %s\n", who, file)
			fmt.Fprintln(e.stderr, "note: the file and its password are your identity; keep them safe. Import it with 'parley import FILE'.")
			return nil
		},
	}
}

// export writes the profile in dir to file, through the running peer if
// there is one, and says whose it is.
func export(ctx context.Context, dir, file, pw string) (who string, err error) {
	c, err := control.Dial(dir)
	if err == nil {
		if err := c.Export(file, pw); err != nil {
			return "", err
		}
		if st, err := c.Status(); err == nil {
			who = fmt.Sprintf("%s (%s)", st.Username, st.NodeID)
		}
		return who, nil
	}
	if !errors.Is(err, app.ErrNotRunning) {
		return "", err
	}
	prof, err := profile.Open(ctx, dir)
	if err != nil {
		return "", err
	}
	defer prof.Close()
	if err := profile.ExportFile(ctx, prof, file, pw, app.Version); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (%s)", prof.Username, prof.NodeID()), nil
}

// importCmd is 'parley import FILE': the profile made from an export.
func importCmd(e *env) *ffcli.Command {
	fs := e.flags("parley import")
	pwFile := fs.String("password-file", "", "read the password from the first line of this file instead of the terminal")
	return &ffcli.Command{
		Name:       "import",
		ShortUsage: "parley [--profile DIR] import FILE [--password-file PWFILE]",
		ShortHelp:  "make the profile from a file written by 'parley export' (the profile directory must not hold one yet)",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			file, err := oneArg(fs, "import", "FILE", args)
			if err != nil {
				return err
			}
			dir, err := e.profileDir()
			if err != nil {
				return err
			}
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			pw, err := readPassword(*pwFile, false, e.stdin, e.stderr)
			if err != nil {
				return err
			}
			prof, err := profile.Import(ctx, f, pw, dir)
			if err != nil {
				return err
			}
			defer prof.Close()
			printProfile(e.stdout, dir, prof)
			fmt.Fprintln(e.stderr, "note: run this identity in one place at a time: stop Parley on the old computer.")
			return nil
		},
	}
}

// maxPasswordFile bounds what is read from --password-file.
const maxPasswordFile = 4 << 10

// readPassword returns the password: the first line of file if one is
// named, else typed on the terminal without echo (twice when confirm).
func readPassword(file string, confirm bool, stdin *os.File, stderr io.Writer) (string, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		if len(b) > maxPasswordFile {
			return "", fmt.Errorf("password file %s: longer than %d bytes", file, maxPasswordFile)
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return "", fmt.Errorf("password file %s: the first line is empty", file)
		}
		return string(line), nil
	}
	fd := int(stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", cli.UsageError{Err: errors.New("no terminal to type the password on: give --password-file FILE")}
	}
	fmt.Fprint(stderr, "Password: ")
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if confirm {
		fmt.Fprint(stderr, "Again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if !bytes.Equal(pw, again) {
			return "", errors.New("the two passwords differ")
		}
	}
	return string(pw), nil
}
