package app

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

	"github.com/parleynet/parley/overlay"
)

// The control socket: a Unix socket in the profile directory through which
// CLI commands ('parley status', later contacts, send, call) talk to the
// daemon or desktop app that holds the profile. One JSON request per
// connection, one JSON response.

type controlRequest struct {
	Cmd    string        `json:"cmd"`
	Name   string        `json:"name,omitempty"`
	Text   string        `json:"text,omitempty"`
	Action ContactAction `json:"action,omitempty"`
	Limit  int           `json:"limit,omitempty"`
	Play   string        `json:"play,omitempty"`
	Record string        `json:"record,omitempty"`
	// Duration of a call, in milliseconds.
	Duration int64 `json:"duration_ms,omitempty"`
	// Path (absolute) and Password of a profile export.
	Path     string `json:"path,omitempty"`
	Password string `json:"password,omitempty"`
}

type controlResponse struct {
	Error    string        `json:"error,omitempty"`
	NotFound bool          `json:"not_found,omitempty"`
	Status   *Status       `json:"status,omitempty"`
	Lookup   *LookupResult `json:"lookup,omitempty"`
	Contacts []ContactInfo `json:"contacts,omitempty"`
	Contact  *ContactInfo  `json:"contact,omitempty"`
	Messages []MessageInfo `json:"messages,omitempty"`
	Message  *MessageInfo  `json:"message,omitempty"`
	Call     *CallInfo     `json:"call,omitempty"`
}

type controlServer struct {
	ln   net.Listener
	path string
	peer *Peer
}

func listenControl(dir string, p *Peer) (*controlServer, error) {
	path := filepath.Join(dir, controlFile)
	// We hold the profile lock, so a socket file left here is stale.
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("app: control socket %s: %w", path, err)
	}
	os.Chmod(path, 0o600)
	return &controlServer{ln: ln, path: path, peer: p}, nil
}

func (c *controlServer) serve(ctx context.Context) {
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
					case errors.Is(err, overlay.ErrNotFound):
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
					var ci ContactInfo
					ci, err = c.peer.AddContact(lctx, req.Name, req.Text)
					cancel()
					resp.Contact = &ci
				case "contact":
					var ci ContactInfo
					ci, err = c.peer.Act(ctx, req.Name, req.Action)
					resp.Contact = &ci
				case "send":
					var m MessageInfo
					m, err = c.peer.Send(ctx, req.Name, req.Text)
					resp.Message = &m
				case "call":
					d := time.Duration(req.Duration) * time.Millisecond
					conn.SetDeadline(time.Now().Add(d + 2*time.Minute))
					var ci CallInfo
					ci, err = c.peer.callFor(ctx, req.Name, CallOptions{Play: req.Play, Record: req.Record}, d)
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
					err = ExportProfileFile(ctx, c.peer.prof, req.Path, req.Password)
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

// Dial returns a client for the daemon on profile dir, or ErrNotRunning.
func Dial(dir string) (*Client, error) {
	c := &Client{path: filepath.Join(dir, controlFile)}
	conn, err := net.DialTimeout("unix", c.path, 2*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w (%s)", ErrNotRunning, dir)
		}
		return nil, fmt.Errorf("app: control socket: %w", err)
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
		return nil, fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, fmt.Errorf("app: control request: %w", err)
	}
	var resp controlResponse
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&resp); err != nil {
		return nil, fmt.Errorf("app: control response: %w", err)
	}
	if resp.Error != "" {
		return &resp, fmt.Errorf("app: daemon: %s", resp.Error)
	}
	return &resp, nil
}

// ErrNotFound is returned by Client.Lookup for a name nobody holds.
var ErrNotFound = errors.New("app: not found")

// Lookup asks the daemon to look a username up in the directory.
func (c *Client) Lookup(name string) (LookupResult, error) {
	resp, err := c.call(controlRequest{Cmd: "lookup", Name: name})
	if err != nil {
		return LookupResult{}, err
	}
	if resp.NotFound || resp.Lookup == nil {
		return LookupResult{}, fmt.Errorf("%w: no one holds the name %q", ErrNotFound, name)
	}
	return *resp.Lookup, nil
}

// Status asks the daemon for its status.
func (c *Client) Status() (Status, error) {
	resp, err := c.call(controlRequest{Cmd: "status"})
	if err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, errors.New("app: daemon sent no status")
	}
	return *resp.Status, nil
}

// Contacts asks the daemon for the contact list.
func (c *Client) Contacts() ([]ContactInfo, error) {
	resp, err := c.call(controlRequest{Cmd: "contacts"})
	if err != nil {
		return nil, err
	}
	return resp.Contacts, nil
}

// AddContact asks the daemon to send name a contact request.
func (c *Client) AddContact(name, message string) (ContactInfo, error) {
	resp, err := c.call(controlRequest{Cmd: "add", Name: name, Text: message})
	if err != nil || resp.Contact == nil {
		return ContactInfo{}, cmp.Or(err, errors.New("app: daemon sent no contact"))
	}
	return *resp.Contact, nil
}

// Act asks the daemon to apply action to the contact name.
func (c *Client) Act(name string, action ContactAction) (ContactInfo, error) {
	resp, err := c.call(controlRequest{Cmd: "contact", Name: name, Action: action})
	if err != nil || resp.Contact == nil {
		return ContactInfo{}, cmp.Or(err, errors.New("app: daemon sent no contact"))
	}
	return *resp.Contact, nil
}

// Send asks the daemon to send text to the contact name. When it returns
// without error, the message is stored and will be delivered.
func (c *Client) Send(name, text string) (MessageInfo, error) {
	resp, err := c.call(controlRequest{Cmd: "send", Name: name, Text: text})
	if err != nil || resp.Message == nil {
		return MessageInfo{}, cmp.Or(err, errors.New("app: daemon sent no message"))
	}
	return *resp.Message, nil
}

// Messages asks the daemon for the last limit messages with name.
func (c *Client) Messages(name string, limit int) ([]MessageInfo, error) {
	resp, err := c.call(controlRequest{Cmd: "messages", Name: name, Limit: limit})
	if err != nil {
		return nil, err
	}
	return resp.Messages, nil
}

// CallFor asks the daemon to call name for d, playing and recording the
// given WAV files (empty: the daemon's own audio), and returns the call as
// it ended.
func (c *Client) CallFor(name, play, record string, d time.Duration) (CallInfo, error) {
	resp, err := c.callTimeout(controlRequest{Cmd: "call", Name: name, Play: play, Record: record, Duration: d.Milliseconds()}, d+3*time.Minute)
	if resp != nil && resp.Call != nil {
		return *resp.Call, err
	}
	return CallInfo{}, cmp.Or(err, errors.New("app: daemon sent no call"))
}

// exportTimeout bounds an export through the control socket.
const exportTimeout = 10 * time.Minute

// Export asks the daemon to export its profile (see ExportProfileFile) to
// a new file at path, sealed with password. It works while the daemon
// runs, which holds the profile's lock.
func (c *Client) Export(path, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("app: export: %w", err)
	}
	_, err = c.callTimeout(controlRequest{Cmd: "export", Path: abs, Password: password}, exportTimeout+30*time.Second)
	return err
}
