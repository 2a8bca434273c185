package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/peterbourgon/ff/v3/ffcli"
	"golang.org/x/term"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/internal/cli"
)

// profileCmds are 'parley export FILE' and 'parley import FILE': a profile
// moved to another computer as a password-sealed file (app.ExportProfile).
// The password is typed without echo when stdin is a terminal, or read
// from --password-file; it is never a flag's value, which other users can
// see in the process list.
func profileCmds(g *globals, stdin *os.File, stdout, stderr io.Writer) []*ffcli.Command {
	exportFS := flag.NewFlagSet("parley export", flag.ContinueOnError)
	exportFS.SetOutput(stderr)
	exportPW := exportFS.String("password-file", "", "read the password from the first line of this file instead of the terminal")
	importFS := flag.NewFlagSet("parley import", flag.ContinueOnError)
	importFS.SetOutput(stderr)
	importPW := importFS.String("password-file", "", "read the password from the first line of this file instead of the terminal")

	return []*ffcli.Command{
		{
			Name:       "export",
			ShortUsage: "parley [--profile DIR] export FILE [--password-file PWFILE]",
			ShortHelp:  "write the profile (identity, contacts, history) to a new file sealed with a password, to move it to another computer",
			LongHelp: "Works while Parley runs on the profile (through its control socket) or not.\n" +
				"The file holds your identity's private key: keep it as safe as the password.",
			FlagSet: exportFS,
			Exec: func(ctx context.Context, args []string) error {
				file, err := oneFile(exportFS, "export", args)
				if err != nil {
					return err
				}
				dir, err := g.profileDir()
				if err != nil {
					return err
				}
				pw, err := readPassword(*exportPW, true, stdin, stderr)
				if err != nil {
					return err
				}
				var who string
				if c, err := app.Dial(dir); err == nil {
					if err := c.Export(file, pw); err != nil {
						return err
					}
					if st, err := c.Status(); err == nil {
						who = fmt.Sprintf("%s (%s)", st.Username, st.NodeID)
					}
				} else if errors.Is(err, app.ErrNotRunning) {
					prof, err := app.Open(ctx, dir)
					if err != nil {
						return err
					}
					defer prof.Close()
					if err := app.ExportProfileFile(ctx, prof, file, pw); err != nil {
						return err
					}
					who = fmt.Sprintf("%s (%s)", prof.Username, prof.Identity.NodeID())
				} else {
					return err
				}
				fmt.Fprintf(stdout, "exported %s to %s\n", who, file)
				fmt.Fprintln(stderr, "note: the file and its password are your identity; keep them safe. Import it with 'parley import FILE'.")
				return nil
			},
		},
		{
			Name:       "import",
			ShortUsage: "parley [--profile DIR] import FILE [--password-file PWFILE]",
			ShortHelp:  "make the profile from a file written by 'parley export' (the profile directory must not hold one yet)",
			FlagSet:    importFS,
			Exec: func(ctx context.Context, args []string) error {
				file, err := oneFile(importFS, "import", args)
				if err != nil {
					return err
				}
				dir, err := g.profileDir()
				if err != nil {
					return err
				}
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				pw, err := readPassword(*importPW, false, stdin, stderr)
				if err != nil {
					return err
				}
				prof, err := app.ImportProfile(ctx, f, pw, dir)
				if err != nil {
					return err
				}
				defer prof.Close()
				fmt.Fprintf(stdout, "profile:     %s\nusername:    %s\nnode id:     %s\nfingerprint: %s\n",
					dir, prof.Username, prof.Identity.NodeID(), prof.Fingerprint())
				fmt.Fprintln(stderr, "note: run this identity in one place at a time: stop Parley on the old computer.")
				return nil
			},
		},
	}
}

// oneFile returns the one FILE argument, with fs's flags before or after it.
func oneFile(fs *flag.FlagSet, cmd string, args []string) (string, error) {
	args, err := interspersed(fs, args)
	if err != nil {
		return "", err
	}
	if len(args) != 1 {
		return "", cli.UsageError{Err: fmt.Errorf("%s: give exactly one FILE", cmd)}
	}
	return args[0], nil
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
