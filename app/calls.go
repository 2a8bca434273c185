package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parleynet/parley/call"
	"github.com/parleynet/parley/store"
)

// Calls. The peer's call.Manager rings, answers and carries calls with
// accepted contacts; its letters travel through chat. The audio comes from
// Options.Media: devices in the desktop app, WAV files or tones for
// headless peers and tests. Without it the peer still runs, and says that
// calls need an audio device.

// ErrNoAudio is returned when a call needs audio this peer does not have.
var ErrNoAudio = errors.New("app: calls need an audio device")

// noAudio is the Media of a peer without audio: every call that connects
// fails with ErrNoAudio.
type noAudio struct{}

func (noAudio) Open(call.Info) (call.Source, call.Sink, error) { return nil, nil, ErrNoAudio }

// CallInfo is a call, for display.
type CallInfo struct {
	ID       string  `json:"id"`
	Username string  `json:"username"`
	Incoming bool    `json:"incoming"`
	State    string  `json:"state"`
	Outcome  string  `json:"outcome,omitempty"`
	Reason   string  `json:"reason,omitempty"`
	Seconds  float64 `json:"seconds"`
	Relayed  bool    `json:"relayed"`
	Path     string  `json:"path,omitempty"`
	Sent     uint64  `json:"sent"`
	Received uint64  `json:"received"`
}

// CallInfoOf returns the display form of i.
func CallInfoOf(i call.Info) CallInfo {
	ci := CallInfo{
		ID: i.ID.String(), Username: i.Username, Incoming: i.Direction == store.Incoming,
		State: i.State.String(), Outcome: string(i.Outcome), Reason: i.Reason,
		Seconds: i.Duration().Seconds(), Relayed: i.Path.Relayed(), Sent: i.Sent, Received: i.Received,
	}
	if i.Path.Local != "" {
		ci.Path = i.Path.String()
	}
	return ci
}

// Calls returns the peer's call manager, or nil for a seed.
func (p *Peer) Calls() *call.Manager { return p.calls }

// Call dials the contact name with the peer's own audio (its devices).
func (p *Peer) Call(ctx context.Context, name string) (call.ID, error) {
	if err := p.audioReady(); err != nil {
		return call.ID{}, err
	}
	return p.dial(ctx, name)
}

func (p *Peer) audioReady() error {
	if p.opts.Media == nil {
		return ErrNoAudio
	}
	if p.opts.AudioReady != nil {
		if err := p.opts.AudioReady(); err != nil {
			return fmt.Errorf("%w: %v", ErrNoAudio, err)
		}
	}
	return nil
}

// dial calls the contact name; opts may give the call media of its own.
func (p *Peer) dial(ctx context.Context, name string, opts ...call.DialOption) (call.ID, error) {
	if p.calls == nil {
		return call.ID{}, errors.New("app: a seed has no calls")
	}
	if p.opts.Media == nil && len(opts) == 0 {
		return call.ID{}, ErrNoAudio
	}
	c, err := p.contactByName(ctx, name)
	if err != nil {
		return call.ID{}, err
	}
	if c.State != store.ContactAccepted {
		return call.ID{}, fmt.Errorf("app: %s is not an accepted contact (%s)", c.Username, c.State)
	}
	return p.calls.Dial(ctx, c.ID, opts...)
}

// onCallEvent answers incoming calls when the peer auto-answers, and
// passes events on.
func (p *Peer) onCallEvent(ev call.Event) {
	p.mu.Lock()
	if p.lastCalls == nil {
		p.lastCalls = make(map[call.ID]call.Info)
	}
	p.lastCalls[ev.Call.ID] = ev.Call
	if len(p.lastCalls) > 64 {
		for id, i := range p.lastCalls {
			if i.State == call.StateEnded && id != ev.Call.ID {
				delete(p.lastCalls, id)
			}
		}
	}
	p.mu.Unlock()
	if ev.Type == call.EventIncoming && p.opts.AutoAnswer {
		if err := p.calls.Accept(ev.Call.ID); err != nil {
			p.log.Warn("auto-answer", "err", err)
		}
	}
	if p.opts.OnCallEvent != nil {
		p.opts.OnCallEvent(ev)
	}
	if p.opts.OnUpdate != nil {
		up := Update{Call: &CallUpdate{Event: ev.Type.String(), CallInfo: CallInfoOf(ev.Call)}}
		p.updates.push(func() (Update, bool) { return up, true })
	}
}

// callInfo returns call id as it is, or as its last event told once it
// has ended.
func (p *Peer) callInfo(id call.ID) call.Info {
	if i, ok := p.calls.Call(id); ok {
		return i
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastCalls[id]
}

// CallFor calls the contact name, talks for d once connected, hangs up and
// returns the call as it ended. play and record, if not empty, are WAV
// files to use as this call's microphone and speaker (Options.FileMedia
// makes them its media). It gives up if the call is not connected within
// a minute.
func (p *Peer) CallFor(ctx context.Context, name, play, record string, d time.Duration) (CallInfo, error) {
	if p.calls == nil {
		return CallInfo{}, errors.New("app: a seed has no calls")
	}
	var id call.ID
	var err error
	if (play != "" || record != "") && p.opts.FileMedia != nil {
		var media call.Media
		if media, err = p.opts.FileMedia(play, record); err != nil {
			return CallInfo{}, err
		}
		id, err = p.dial(ctx, name, call.WithMedia(media))
	} else {
		id, err = p.Call(ctx, name)
	}
	if err != nil {
		return CallInfo{}, err
	}
	info := func() call.Info { return p.callInfo(id) }
	wait := func(limit time.Duration, done func(call.Info) bool) call.Info {
		deadline := time.Now().Add(limit)
		for {
			i := info()
			if done(i) || time.Now().After(deadline) || ctx.Err() != nil {
				return i
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	i := wait(time.Minute, func(i call.Info) bool { return i.State == call.StateActive || i.State == call.StateEnded })
	if i.State != call.StateActive {
		if i.State != call.StateEnded {
			p.calls.Hangup(id)
			i = wait(5*time.Second, func(i call.Info) bool { return i.State == call.StateEnded })
		}
		return CallInfoOf(i), fmt.Errorf("app: call not connected: %s", cmp.Or(i.Reason, i.State.String()))
	}
	wait(d, func(i call.Info) bool { return i.State == call.StateEnded })
	p.calls.Hangup(id)
	i = wait(5*time.Second, func(i call.Info) bool { return i.State == call.StateEnded })
	return CallInfoOf(i), nil
}
