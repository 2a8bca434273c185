package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/call"
	"github.com/parleynet/parley/chat"
	"github.com/parleynet/parley/store"
)

// The echo service: an account that accepts every contact request and
// answers every call, records what it hears for a few seconds and plays it
// back, like the sound-test contact of classic Skype. It moves Opus packets
// as they are, so it needs no codec (the seed builds without cgo).

// EchoRecord is how long the echo account listens before it plays back.
const EchoRecord = 5 * time.Second

// echoMedia is the audio of the echo account.
type echoMedia struct{ frames int }

func (m echoMedia) Open(call.Info) (call.Source, call.Sink, error) {
	e := &echo{frames: m.frames}
	return e, e, nil
}

// echo records packets, then plays them back, in turns.
type echo struct {
	frames int

	mu      sync.Mutex
	rec     [][]byte
	playing bool
	next    int
	ticks   int
}

// NextPacket implements call.Source: nothing (DTX) while recording, then
// what was recorded, packet by packet.
func (e *echo) NextPacket() ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.playing {
		e.ticks++
		if e.ticks >= e.frames {
			e.playing, e.next = true, 0
		}
		return nil, nil
	}
	if e.next < len(e.rec) {
		p := e.rec[e.next]
		e.next++
		return p, nil
	}
	e.playing, e.rec, e.ticks = false, nil, 0
	return nil, nil
}

// Push implements call.Sink: keep what comes in while recording.
func (e *echo) Push(_ uint16, _ uint32, payload []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.playing && len(e.rec) < e.frames {
		e.rec = append(e.rec, bytes.Clone(payload))
	}
}

// RunEcho runs the echo account username with its profile in dir, logging
// in through seeds, until ctx is done. It creates the profile (claiming the
// name) on first run, retrying while the network is not reachable yet.
func RunEcho(ctx context.Context, dir, username string, seeds Seeds, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("echo", username)
	var p *Peer
	opts := Options{
		Seeds: seeds, NoSupernode: true, Listen: "127.0.0.1:0", Logger: log,
		AutoAnswer: true, Media: echoMedia{frames: int(EchoRecord / (20 * time.Millisecond))},
		onChatEvent: func(ev chat.Event) {
			if c := ev.Contact; c != nil && c.State == store.ContactIncoming {
				go func() {
					if err := p.chat.Accept(context.Background(), c.ID); err != nil {
						log.Warn("accepting a contact", "err", err)
					}
				}()
			}
		},
	}
	prof, err := profile.Open(ctx, dir)
	for errors.Is(err, profile.ErrNoProfile) {
		prof, err = Init(ctx, dir, username, opts)
		if err == nil || errors.Is(err, ErrNameTaken) || errors.Is(err, ErrBadUsername) {
			break
		}
		log.Info("echo account not created yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
		prof, err = profile.Open(ctx, dir)
	}
	if err != nil {
		return err
	}
	defer prof.Close()
	if p, err = NewPeer(prof, opts); err != nil {
		return err
	}
	log.Info("echo account up", "username", prof.Username)
	return p.Run(ctx)
}
