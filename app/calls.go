package app

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleynet/parley/call"
	"github.com/parleynet/parley/store"
)

// Calls. The peer's call.Manager rings, answers and carries calls with
// accepted contacts; its letters travel through chat. The audio comes from
// Options.Media: devices in the desktop app, WAV files or tones for
// headless peers and tests. Without it the peer still runs, and says that
// calls need an audio device.

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

// callInfoOf returns the display form of i.
func callInfoOf(i call.Info) CallInfo {
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

// CallOptions are a call's own sound, instead of the peer's devices:
// Play is a WAV file or "tone:HZ" to send (silence if empty), Record a
// WAV file to record what comes in (nothing kept if empty). Both empty:
// the peer's devices (Options.Media).
type CallOptions struct {
	Play, Record string
}

// Call dials the contact name, with the peer's audio or o's files, and
// returns the call as it starts; its changes come as Updates. It is the
// one way to dial.
func (p *Peer) Call(ctx context.Context, name string, o CallOptions) (CallInfo, error) {
	id, err := p.startCall(ctx, name, o)
	if err != nil {
		return CallInfo{}, err
	}
	return callInfoOf(p.callInfo(id)), nil
}

func (p *Peer) startCall(ctx context.Context, name string, o CallOptions) (call.ID, error) {
	if o.Play == "" && o.Record == "" {
		if err := p.audioReady(); err != nil {
			return call.ID{}, err
		}
		return p.dial(ctx, name)
	}
	if p.opts.FileMedia == nil {
		return call.ID{}, fmt.Errorf("%w: this peer cannot play or record files", ErrNoAudio)
	}
	media, err := p.opts.FileMedia(o.Play, o.Record)
	if err != nil {
		return call.ID{}, err
	}
	return p.dial(ctx, name, call.WithMedia(media))
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
	for _, ch := range p.callWaiters[ev.Call.ID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
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
	if p.opts.onCallEvent != nil {
		p.opts.onCallEvent(ev)
	}
	if p.opts.OnUpdate != nil {
		up := Update{Call: &CallUpdate{Event: ev.Type.String(), CallInfo: callInfoOf(ev.Call)}}
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

// waitCall waits, up to limit, until done(call id) holds, and returns the
// call as it is then. It wakes on the call's events, not by polling.
func (p *Peer) waitCall(ctx context.Context, id call.ID, limit time.Duration, done func(call.Info) bool) call.Info {
	ch := make(chan struct{}, 1)
	p.mu.Lock()
	if p.callWaiters == nil {
		p.callWaiters = make(map[call.ID][]chan struct{})
	}
	p.callWaiters[id] = append(p.callWaiters[id], ch)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.callWaiters[id] = slices.DeleteFunc(p.callWaiters[id], func(c chan struct{}) bool { return c == ch })
		if len(p.callWaiters[id]) == 0 {
			delete(p.callWaiters, id)
		}
		p.mu.Unlock()
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		i := p.callInfo(id)
		if done(i) {
			return i
		}
		select {
		case <-ch:
		case <-timer.C:
			return p.callInfo(id)
		case <-ctx.Done():
			return p.callInfo(id)
		}
	}
}

// Call states, as CallInfo.State gives them.
const (
	CallDialing    = "dialing"
	CallRinging    = "ringing"
	CallConnecting = "connecting"
	CallActive     = "active"
	CallEnded      = "ended"
)

// WaitCall waits, up to limit or until ctx is done, until done holds for
// call id (an ended call stays known for a while), and returns the call as
// it is then. It wakes on the call's changes, not by polling.
func (p *Peer) WaitCall(ctx context.Context, id string, limit time.Duration, done func(CallInfo) bool) CallInfo {
	cid, err := p.callID(id)
	if err != nil {
		return CallInfo{ID: id, State: CallEnded, Reason: err.Error()}
	}
	return callInfoOf(p.waitCall(ctx, cid, limit, func(i call.Info) bool { return done(callInfoOf(i)) }))
}

// CallFor calls the contact name with Call, talks for d once connected,
// hangs up and returns the call as it ended: a scripted call ('parley
// call --for'). It gives up if the call is not connected within a minute.
func (p *Peer) CallFor(ctx context.Context, name string, o CallOptions, d time.Duration) (CallInfo, error) {
	ci, err := p.Call(ctx, name, o)
	if err != nil {
		return CallInfo{}, err
	}
	ended := func(i CallInfo) bool { return i.State == CallEnded }
	i := p.WaitCall(ctx, ci.ID, time.Minute, func(i CallInfo) bool { return i.State == CallActive || ended(i) })
	if i.State != CallActive {
		if !ended(i) {
			p.HangUp(ci.ID)
			i = p.WaitCall(context.WithoutCancel(ctx), ci.ID, 5*time.Second, ended)
		}
		return i, fmt.Errorf("app: call not connected: %s", cmp.Or(i.Reason, i.State))
	}
	p.WaitCall(ctx, ci.ID, d, ended)
	p.HangUp(ci.ID)
	return p.WaitCall(context.WithoutCancel(ctx), ci.ID, 5*time.Second, ended), nil
}

// CallLogEntry is one call of the call log, for display.
type CallLogEntry struct {
	ID       string    `json:"id"`
	Username string    `json:"username"`
	Incoming bool      `json:"incoming"`
	Started  time.Time `json:"started"`
	Answered time.Time `json:"answered,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
	Outcome  string    `json:"outcome,omitempty"` // answered, missed, declined, busy, cancelled, failed; empty while going on
	Reason   string    `json:"reason,omitempty"`
}

// Duration is how long the call was connected.
func (e CallLogEntry) Duration() time.Duration {
	if e.Answered.IsZero() || e.Ended.IsZero() {
		return 0
	}
	return e.Ended.Sub(e.Answered)
}

// CallLog returns the last limit calls with the contact name, oldest first.
func (p *Peer) CallLog(ctx context.Context, name string, limit int) ([]CallLogEntry, error) {
	if err := p.needChat(); err != nil {
		return nil, err
	}
	c, err := p.contactByName(ctx, name)
	if err != nil {
		return nil, err
	}
	cs, err := p.prof.DB.Calls(ctx, c.ID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]CallLogEntry, len(cs))
	for i, k := range cs {
		out[len(cs)-1-i] = CallLogEntry{
			ID: hex.EncodeToString(k.CallID[:]), Username: c.Username, Incoming: k.Direction == store.Incoming,
			Started: k.Started, Answered: k.Answered, Ended: k.Ended, Outcome: string(k.Outcome), Reason: k.Reason,
		}
	}
	return out, nil
}

func (p *Peer) callID(id string) (call.ID, error) {
	var cid call.ID
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != len(cid) || p.calls == nil {
		return cid, fmt.Errorf("%w: %q", ErrNoCall, id)
	}
	copy(cid[:], b)
	return cid, nil
}

// AnswerCall accepts the ringing incoming call id.
func (p *Peer) AnswerCall(id string) error {
	cid, err := p.callID(id)
	if err != nil {
		return err
	}
	if err := p.audioReady(); err != nil {
		p.calls.Decline(cid)
		return err
	}
	return p.calls.Accept(cid)
}

// DeclineCall declines the ringing incoming call id.
func (p *Peer) DeclineCall(id string) error {
	cid, err := p.callID(id)
	if err != nil {
		return err
	}
	return p.calls.Decline(cid)
}

// HangUp ends (or cancels) the call id.
func (p *Peer) HangUp(id string) error {
	cid, err := p.callID(id)
	if err != nil {
		return err
	}
	return p.calls.Hangup(cid)
}

// SetCallMuted mutes or unmutes the microphone in call id.
func (p *Peer) SetCallMuted(id string, muted bool) error {
	cid, err := p.callID(id)
	if err != nil {
		return err
	}
	return p.calls.SetMuted(cid, muted)
}

// CallLevels returns the input (microphone) and output levels of call id
// for a meter: 0 for -60 dBFS or less up to 1 for full scale; ok is false
// when the call has no audio yet.
func (p *Peer) CallLevels(id string) (in, out float64, ok bool) {
	cid, err := p.callID(id)
	if err != nil {
		return 0, 0, false
	}
	in, out, ok = p.calls.Levels(cid)
	meter := func(dB float64) float64 { return min(1, max(0, (dB+60)/60)) }
	return meter(in), meter(out), ok
}
