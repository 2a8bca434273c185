package natns

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/parleynet/parley/overlay/relay"
	"github.com/parleynet/parley/rtc"
)

// The test binary doubles as the processes that run inside the namespaces:
// started with helperEnv set, TestMain runs a helper instead of the tests.
// A helper talks to the test over stdin and stdout, one JSON message (line)
// each way at a time, logs to stderr, and exits when its stdin closes, so
// it never outlives the test.
const (
	helperEnv  = "PARLEY_NATNS_HELPER"  // "relay" or "peer"
	listenEnv  = "PARLEY_NATNS_LISTEN"  // relay: the UDP address to serve on
	offererEnv = "PARLEY_NATNS_OFFERER" // peer: "1" for the offerer
	iceEnv     = "PARLEY_NATNS_ICE"     // peer: JSON []webrtc.ICEServer
)

// message is one line between the test and a helper.
//
// Test → relay helper: creds{User}. Relay helper → test: ready, creds{Username,
// Password}.
//
// Test → peer helper: start (offerer), signal{Signal}, send{Data}, path,
// close. Peer helper → test: ready, signal{Signal} (for the other peer),
// open, message{Data}, path{Path}, refused{Err} (HandleSignal failed),
// closed{Err}, failed{Err}.
type message struct {
	T        string      `json:"t"`
	Signal   *rtc.Signal `json:"signal,omitempty"`
	Data     string      `json:"data,omitempty"`
	Path     *rtc.Path   `json:"path,omitempty"`
	Err      string      `json:"err,omitempty"`
	User     string      `json:"user,omitempty"`
	Username string      `json:"username,omitempty"`
	Password string      `json:"password,omitempty"`
}

// helperOut writes messages to stdout, one line each, from any goroutine.
type helperOut struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (o *helperOut) send(m message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.enc.Encode(m); err != nil {
		// The test has gone: nothing is left to do.
		os.Exit(3)
	}
}

// runHelper runs the helper kind names and returns the exit code.
func runHelper(kind string) int {
	// Sessions log at Debug (candidates, signaling); the server at Info,
	// since at Debug pion's TURN server logs every packet.
	level := slog.LevelDebug
	if kind == "relay" {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	out := &helperOut{enc: json.NewEncoder(os.Stdout)}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	var err error
	switch kind {
	case "relay":
		err = runRelay(log, in, out)
	case "peer":
		err = runPeer(log, in, out)
	default:
		err = fmt.Errorf("unknown helper %q", kind)
	}
	if err != nil {
		log.Error("helper failed", "err", err)
		out.send(message{T: "failed", Err: err.Error()})
		return 1
	}
	return 0
}

// runRelay serves STUN and TURN on listenEnv with overlay/relay's defaults
// (relaying only to public addresses) and hands out credentials.
func runRelay(log *slog.Logger, in *bufio.Scanner, out *helperOut) error {
	pc, err := net.ListenPacket("udp4", os.Getenv(listenEnv))
	if err != nil {
		return err
	}
	srv, err := relay.NewServer(relay.Config{PacketConn: pc, Logger: log.With("relay", pc.LocalAddr().String())})
	if err != nil {
		return err
	}
	defer srv.Close()
	out.send(message{T: "ready"})
	for in.Scan() {
		var m message
		if err := json.Unmarshal(in.Bytes(), &m); err != nil {
			return fmt.Errorf("from the test: %w", err)
		}
		if m.T != "creds" {
			return fmt.Errorf("from the test: unexpected %q", m.T)
		}
		u, p := srv.Credentials(m.User, 0, time.Now())
		out.send(message{T: "creds", Username: u, Password: p})
	}
	return in.Err() // nil at EOF: the test is done with us
}

// runPeer runs one rtc.Session, driven by the test.
func runPeer(log *slog.Logger, in *bufio.Scanner, out *helperOut) error {
	var servers []webrtc.ICEServer
	if err := json.Unmarshal([]byte(os.Getenv(iceEnv)), &servers); err != nil {
		return fmt.Errorf("%s: %w", iceEnv, err)
	}
	offerer := os.Getenv(offererEnv) == "1"
	s, err := rtc.NewSession(rtc.Config{
		Offerer:    offerer,
		ICEServers: servers,
		Send: func(sig rtc.Signal) error {
			out.send(message{T: "signal", Signal: &sig})
			return nil
		},
		OnOpen:    func() { out.send(message{T: "open"}) },
		OnMessage: func(b []byte) { out.send(message{T: "message", Data: string(b)}) },
		OnClose: func(reason error) {
			m := message{T: "closed"}
			if reason != nil {
				m.Err = reason.Error()
			}
			out.send(m)
		},
		ConnectTimeout: connectTimeout,
		Logger:         log,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	out.send(message{T: "ready"})
	for in.Scan() {
		var m message
		if err := json.Unmarshal(in.Bytes(), &m); err != nil {
			return fmt.Errorf("from the test: %w", err)
		}
		switch m.T {
		case "start":
			if err := s.Start(); err != nil {
				return fmt.Errorf("start: %w", err)
			}
		case "signal":
			if m.Signal == nil {
				return fmt.Errorf("from the test: signal without a signal")
			}
			if err := s.HandleSignal(*m.Signal); err != nil {
				out.send(message{T: "refused", Err: fmt.Sprintf("%s: %v", m.Signal.Kind, err)})
			}
		case "send":
			if err := s.Send([]byte(m.Data)); err != nil {
				return fmt.Errorf("send: %w", err)
			}
		case "path":
			p, ok := s.Path()
			if !ok {
				out.send(message{T: "path"})
				continue
			}
			out.send(message{T: "path", Path: &p})
		case "close":
			s.Close()
			<-s.Done()
			return nil
		default:
			return fmt.Errorf("from the test: unexpected %q", m.T)
		}
	}
	return in.Err() // nil at EOF: the test is done with us
}
