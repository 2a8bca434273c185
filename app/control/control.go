// Package control is the local control socket: a Unix socket in the
// profile directory through which CLI commands ('parley status',
// contacts, send, call, export) talk to the daemon or desktop app that
// holds the profile. One JSON request per connection, one JSON response.
// It speaks to the peer only through app's facade.
package control

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/app/profile"
)

type controlRequest struct {
	Cmd    string            `json:"cmd"`
	Name   string            `json:"name,omitempty"`
	Text   string            `json:"text,omitempty"`
	Action app.ContactAction `json:"action,omitempty"`
	Limit  int               `json:"limit,omitempty"`
	Play   string            `json:"play,omitempty"`
	Record string            `json:"record,omitempty"`
	// Duration of a call, in milliseconds.
	Duration int64 `json:"duration_ms,omitempty"`
	// Path (absolute) and Password of a profile export.
	Path     string `json:"path,omitempty"`
	Password string `json:"password,omitempty"`
}

type controlResponse struct {
	Error    string            `json:"error,omitempty"`
	NotFound bool              `json:"not_found,omitempty"`
	Status   *app.Status       `json:"status,omitempty"`
	Lookup   *app.LookupResult `json:"lookup,omitempty"`
	Contacts []app.ContactInfo `json:"contacts,omitempty"`
	Contact  *app.ContactInfo  `json:"contact,omitempty"`
	Messages []app.MessageInfo `json:"messages,omitempty"`
	Message  *app.MessageInfo  `json:"message,omitempty"`
	Call     *app.CallInfo     `json:"call,omitempty"`
}

// Server is a control socket listening for a peer.
type Server struct {
	ln   net.Listener
	path string
	peer *app.Peer
}

// socketFile is the control socket's name in the profile directory.
const socketFile = "control.sock"

// Listen opens the control socket of profile dir for peer, which holds
// the profile (and so its lock): a socket file left there is stale.
func Listen(dir string, p *app.Peer) (*Server, error) {
	path := filepath.Join(dir, socketFile)
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: socket %s: %w", path, err)
	}
	os.Chmod(path, 0o600)
	return &Server{ln: ln, path: path, peer: p}, nil
}

// Run runs peer with its control socket in profile dir until ctx is
// done (peer.Run's error).
func Run(ctx context.Context, dir string, peer *app.Peer) error {
	srv, err := Listen(dir, peer)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ctx) }()
	err = peer.Run(ctx)
	cancel()
	<-served
	return err
}

// Serve answers requests until ctx is done, then closes and removes the
// socket.
func (c *Server) Serve(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { c.ln.Close() })
	defer stop()
	defer os.Remove(c.path)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			var req controlRequest
			var resp controlResponse
			var err error
			if derr := json.NewDecoder(io.LimitReader(conn, 1<<20)).Decode(&req); derr != nil {
				resp.Error = "bad request: " + derr.Error()
			} else {
				switch req.Cmd {
				case "status":
					st := c.peer.Status()
					resp.Status = &st
				case "lookup":
					lctx, cancel := context.WithTimeout(ctx, 8*time.Second)
					r, err := c.peer.Lookup(lctx, req.Name)
					cancel()
					switch {
					case errors.Is(err, app.ErrNotFound):
						resp.NotFound = true
					case err != nil:
						resp.Error = err.Error()
					default:
						resp.Lookup = &r
					}
				case "contacts":
					resp.Contacts, err = c.peer.Contacts(ctx)
				case "add":
					lctx, cancel := context.WithTimeout(ctx, 8*time.Second)
					var ci app.ContactInfo
					ci, err = c.peer.AddContact(lctx, req.Name, req.Text)
					cancel()
					resp.Contact = &ci
				case "contact":
					var ci app.ContactInfo
					ci, err = c.peer.Act(ctx, req.Name, req.Action)
					resp.Contact = &ci
				case "send":
					var m app.MessageInfo
					m, err = c.peer.Send(ctx, req.Name, req.Text)
					resp.Message = &m
				case "call":
					d := time.Duration(req.Duration) * time.Millisecond
					conn.SetDeadline(time.Now().Add(d + 2*time.Minute))
					var ci app.CallInfo
					ci, err = c.peer.CallFor(ctx, req.Name, app.CallOptions{Play: req.Play, Record: req.Record}, d)
					resp.Call = &ci
					if err != nil {
						resp = controlResponse{Error: err.Error(), Call: &ci}
						err = nil
					}
				case "messages":
					resp.Messages, err = c.peer.Messages(ctx, req.Name, max(1, min(req.Limit, 1000)))
				case "export":
					conn.SetDeadline(time.Now().Add(exportTimeout))
					if !filepath.IsAbs(req.Path) {
						err = fmt.Errorf("export: the path %q is not absolute", req.Path)
						break
					}
					err = profile.ExportFile(ctx, c.peer.Profile(), req.Path, req.Password, app.Version)
				default:
					resp.Error = fmt.Sprintf("unknown command %q", req.Cmd)
				}
			}
			if err != nil {
				resp = controlResponse{Error: err.Error()}
			}
			json.NewEncoder(conn).Encode(&resp)
		}()
	}
}

// Client talks to the peer running on a profile through its control socket.
type Client struct {
	path string
}

// Dial returns a client for the daemon on profile dir, or
// app.ErrNotRunning.
func Dial(dir string) (*Client, error) {
	c := &Client{path: filepath.Join(dir, socketFile)}
	conn, err := net.DialTimeout("unix", c.path, 2*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w (%s)", app.ErrNotRunning, dir)
		}
		return nil, fmt.Errorf("control: socket: %w", err)
	}
	conn.Close()
	return c, nil
}

func (c *Client) call(req controlRequest) (*controlResponse, error) {
	return c.callTimeout(req, 15*time.Second)
}

func (c *Client) callTimeout(req controlRequest, timeout time.Duration) (*controlResponse, error) {
	conn, err := net.DialTimeout("unix", c.path, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", app.ErrNotRunning, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, fmt.Errorf("control: request: %w", err)
	}
	var resp controlResponse
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&resp); err != nil {
		return nil, fmt.Errorf("control: response: %w", err)
	}
	if resp.Error != "" {
		return &resp, fmt.Errorf("daemon: %s", resp.Error)
	}
	return &resp, nil
}

// Lookup asks the daemon to look a username up in the directory.
func (c *Client) Lookup(name string) (app.LookupResult, error) {
	resp, err := c.call(controlRequest{Cmd: "lookup", Name: name})
	if err != nil {
		return app.LookupResult{}, err
	}
	if resp.NotFound || resp.Lookup == nil {
		return app.LookupResult{}, fmt.Errorf("%w: no one holds the name %q", app.ErrNotFound, name)
	}
	return *resp.Lookup, nil
}

// Status asks the daemon for its status.
func (c *Client) Status() (app.Status, error) {
	resp, err := c.call(controlRequest{Cmd: "status"})
	if err != nil {
		return app.Status{}, err
	}
	if resp.Status == nil {
		return app.Status{}, errors.New("app: daemon sent no status")
	}
	return *resp.Status, nil
}

// Contacts asks the daemon for the contact list.
func (c *Client) Contacts() ([]app.ContactInfo, error) {
	resp, err := c.call(controlRequest{Cmd: "contacts"})
	if err != nil {
		return nil, err
	}
	return resp.Contacts, nil
}

// AddContact asks the daemon to send name a contact request.
func (c *Client) AddContact(name, message string) (app.ContactInfo, error) {
	resp, err := c.call(controlRequest{Cmd: "add", Name: name, Text: message})
	if err != nil || resp.Contact == nil {
		return app.ContactInfo{}, cmp.Or(err, errors.New("app: daemon sent no contact"))
	}
	return *resp.Contact, nil
}

// Act asks the daemon to apply action to the contact name.
func (c *Client) Act(name string, action app.ContactAction) (app.ContactInfo, error) {
	resp, err := c.call(controlRequest{Cmd: "contact", Name: name, Action: action})
	if err != nil || resp.Contact == nil {
		return app.ContactInfo{}, cmp.Or(err, errors.New("app: daemon sent no contact"))
	}
	return *resp.Contact, nil
}

// Send asks the daemon to send text to the contact name. When it returns
// without error, the message is stored and will be delivered.
func (c *Client) Send(name, text string) (app.MessageInfo, error) {
	resp, err := c.call(controlRequest{Cmd: "send", Name: name, Text: text})
	if err != nil || resp.Message == nil {
		return app.MessageInfo{}, cmp.Or(err, errors.New("app: daemon sent no message"))
	}
	return *resp.Message, nil
}

// Messages asks the daemon for the last limit messages with name.
func (c *Client) Messages(name string, limit int) ([]app.MessageInfo, error) {
	resp, err := c.call(controlRequest{Cmd: "messages", Name: name, Limit: limit})
	if err != nil {
		return nil, err
	}
	return resp.Messages, nil
}

// CallFor asks the daemon to call name for d, playing and recording the
// given WAV files (empty: the daemon's own audio), and returns the call as
// it ended.
func (c *Client) CallFor(name, play, record string, d time.Duration) (app.CallInfo, error) {
	resp, err := c.callTimeout(controlRequest{Cmd: "call", Name: name, Play: play, Record: record, Duration: d.Milliseconds()}, d+3*time.Minute)
	if resp != nil && resp.Call != nil {
		return *resp.Call, err
	}
	return app.CallInfo{}, cmp.Or(err, errors.New("app: daemon sent no call"))
}

// exportTimeout bounds an export through the control socket.
const exportTimeout = 10 * time.Minute

// Export asks the daemon to export its profile (see profile.ExportFile) to
// a new file at path, sealed with password. It works while the daemon
// runs, which holds the profile's lock.
func (c *Client) Export(path, password string) error {
	if err := profile.CheckPassword(password); err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("control: export: %w", err)
	}
	_, err = c.callTimeout(controlRequest{Cmd: "export", Path: abs, Password: password}, exportTimeout+30*time.Second)
	return err
}
