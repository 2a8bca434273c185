package parleycli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/app/control"
	"github.com/parleynet/parley/internal/cli"
)

// contactsCmd is 'parley contacts': contacts and requests.
func contactsCmd(e *env) *ffcli.Command {
	fs := e.flags("parley contacts")
	asJSON := fs.Bool("json", false, "print as JSON")
	return &ffcli.Command{
		Name:       "contacts",
		ShortUsage: "parley [--profile DIR] contacts [--json]",
		ShortHelp:  "list contacts and requests, with presence and unread messages",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			return e.client(func(c *control.Client) error {
				cs, err := c.Contacts()
				if err != nil {
					return err
				}
				if *asJSON {
					return e.printJSON(cs)
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
					fmt.Fprintf(e.stdout, "%-20s %-9s %-8s%s\n", ci.Username, ci.State, ci.Presence, extra)
				}
				return nil
			})
		},
	}
}

// addCmd is 'parley add NAME': a contact request.
func addCmd(e *env) *ffcli.Command {
	fs := e.flags("parley add")
	message := fs.String("message", "", "a short message to go with the request")
	return &ffcli.Command{
		Name:       "add",
		ShortUsage: "parley [--profile DIR] add NAME [--message TEXT]",
		ShortHelp:  "look NAME up and send a contact request",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			name, err := oneName(fs, "add", args)
			if err != nil {
				return err
			}
			return e.client(func(c *control.Client) error {
				ci, err := c.AddContact(name, *message)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s: %s\nfingerprint:   %s\nsafety number: %s\n", ci.Username, ci.State, ci.Fingerprint, ci.SafetyNumber)
				return nil
			})
		},
	}
}

// sendCmd is 'parley send NAME TEXT...'.
func sendCmd(e *env) *ffcli.Command {
	return &ffcli.Command{
		Name:       "send",
		ShortUsage: "parley [--profile DIR] send NAME TEXT...",
		ShortHelp:  "send a message; it is stored when this returns and delivered as soon as possible",
		Exec: func(ctx context.Context, args []string) error {
			if len(args) < 2 {
				return cli.UsageError{Err: errors.New("send: give NAME and the text")}
			}
			return e.client(func(c *control.Client) error {
				m, err := c.Send(args[0], strings.Join(args[1:], " "))
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s %s\n", m.ID, m.State)
				return nil
			})
		},
	}
}

// messagesCmd is 'parley messages NAME': the last messages, marked read.
func messagesCmd(e *env) *ffcli.Command {
	fs := e.flags("parley messages")
	limit := fs.Int("limit", 50, "how many of the last messages")
	asJSON := fs.Bool("json", false, "print as JSON")
	return &ffcli.Command{
		Name:       "messages",
		ShortUsage: "parley [--profile DIR] messages NAME [--limit N] [--json]",
		ShortHelp:  "print the last messages with NAME, oldest first, and mark them read",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			name, err := oneName(fs, "messages", args)
			if err != nil {
				return err
			}
			return e.client(func(c *control.Client) error {
				ms, err := c.Messages(name, *limit)
				if err != nil {
					return err
				}
				if *asJSON {
					return e.printJSON(ms)
				}
				for _, m := range ms {
					who := "me"
					if m.Incoming {
						who = name
					}
					fmt.Fprintf(e.stdout, "%s %-10s %-9s %s\n", m.Sent.Local().Format("2006-01-02 15:04:05"), who, m.State, m.Body)
				}
				return nil
			})
		},
	}
}

// contactAction is a command that takes one NAME and changes a contact.
type contactAction struct {
	action app.ContactAction
	help   string
}

// contactActions are the contact actions, with their help.
var contactActions = []contactAction{
	{app.ActionAccept, "accept NAME's contact request"},
	{app.ActionDecline, "decline NAME's contact request"},
	{app.ActionBlock, "block NAME: nothing from them is taken any more"},
	{app.ActionRemove, "remove NAME as a contact, on both sides"},
	{app.ActionVerify, "mark NAME's key as checked (you compared the safety number)"},
	{app.ActionAcceptKey, "accept NAME's new key after a key-change warning"},
}

// actionCmd is 'parley ACTION NAME' for one of contactActions.
func actionCmd(e *env, a contactAction) *ffcli.Command {
	name := string(a.action)
	return &ffcli.Command{
		Name:       name,
		ShortUsage: "parley [--profile DIR] " + name + " NAME",
		ShortHelp:  a.help,
		Exec: func(ctx context.Context, args []string) error {
			who, err := oneName(nil, name, args)
			if err != nil {
				return err
			}
			return e.client(func(c *control.Client) error {
				ci, err := c.Act(who, a.action)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s: %s\n", ci.Username, ci.State)
				return nil
			})
		},
	}
}
