package parleycli

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/parleynet/parley/app/control"
)

// callCmd is 'parley call NAME': a call from the running daemon, with
// files (or a tone) for its sound.
func callCmd(e *env) *ffcli.Command {
	fs := e.flags("parley call")
	play := fs.String("play", "", "a WAV file to play as the microphone, or tone:HZ for a sine tone")
	record := fs.String("record", "", "a WAV file to record what is heard")
	duration := fs.Duration("duration", 10*time.Second, "how long to talk once connected")
	return &ffcli.Command{
		Name:       "call",
		ShortUsage: "parley [--profile DIR] call NAME [--play IN.wav] [--record OUT.wav] [--duration 10s]",
		ShortHelp:  "call a contact from the running daemon, talk for the duration, hang up",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			name, err := oneName(fs, "call", args)
			if err != nil {
				return err
			}
			// The daemon opens the files: it needs their full paths.
			in, err := absFile(*play)
			if err != nil {
				return err
			}
			out, err := absFile(*record)
			if err != nil {
				return err
			}
			return e.client(func(c *control.Client) error {
				ci, err := c.CallFor(name, in, out, *duration)
				if ci.ID != "" {
					fmt.Fprintf(e.stdout, "call %s with %s: %s, %.1f s, path %s (relayed %v), packets sent %d, received %d\n",
						ci.ID, ci.Username, cmp.Or(ci.Outcome, ci.State), ci.Seconds, cmp.Or(ci.Path, "none"), ci.Relayed, ci.Sent, ci.Received)
				}
				return err
			})
		},
	}
}

// absFile makes a --play or --record path absolute; a tone stays as it is.
func absFile(p string) (string, error) {
	if p == "" || strings.HasPrefix(p, "tone:") {
		return p, nil
	}
	return filepath.Abs(p)
}
