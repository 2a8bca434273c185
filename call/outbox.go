package call

import (
	"errors"
	"fmt"
	"sync"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/store"
)

// outbox sends the letters of one call, in order, from a goroutine of its
// own, so that the Manager's loop never waits on the network. It is
// closed when the call ends; it sends what it has and stops.
type outbox struct {
	m    *Manager
	c    *call // read only: id, contact, dir
	kick chan struct{}

	mu     sync.Mutex // guards q and closed
	q      []outLetter
	closed bool
}

type outLetter struct {
	kind uint8
	l    Letter
}

// newOutbox starts the outbox of c.
func (m *Manager) newOutbox(c *call) *outbox {
	o := &outbox{m: m, c: c, kick: make(chan struct{}, 1)}
	m.wg.Add(1)
	go o.run()
	return o
}

// push queues a letter; after close it is dropped.
func (o *outbox) push(kind uint8, l Letter) {
	o.mu.Lock()
	if !o.closed {
		o.q = append(o.q, outLetter{kind, l})
	}
	o.mu.Unlock()
	o.poke()
}

// close lets the outbox stop once what it has is sent.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.poke()
}

func (o *outbox) poke() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

func (o *outbox) run() {
	defer o.m.wg.Done()
	for {
		o.mu.Lock()
		batch, closed := o.q, o.closed
		o.q = nil
		o.mu.Unlock()
		for _, ol := range batch {
			o.send(ol)
		}
		if len(batch) > 0 {
			continue
		}
		if closed {
			return
		}
		<-o.kick
	}
}

// send sends one letter. An invite that cannot be sent fails the call.
func (o *outbox) send(ol outLetter) {
	m, c := o.m, o.c
	payload, err := encodeLetter(ol.l)
	if err == nil {
		ctx, cancel := ctxSend()
		var d overlay.Delivery
		d, err = m.cfg.Letters.Send(ctx, c.contact.ID, ol.kind, payload)
		cancel()
		if err == nil && ol.kind == KindInvite && !d.Delivered {
			m.log.Info("the contact is offline; the invite waits in its mailbox", "call", c.id.short(), "stored", d.Stored)
		}
	}
	if err == nil {
		m.log.Debug("call letter sent", "kind", kindName(ol.kind), "call", c.id.short())
		return
	}
	m.log.Info("call letter not sent", "kind", kindName(ol.kind), "call", c.id.short(), "err", err)
	if ol.kind == KindInvite {
		m.post(func() {
			if c.state == StateDialing || c.state == StateRinging {
				m.finish(c, store.CallFailed, "could not reach "+c.contact.Username+": "+err.Error(),
					fmt.Errorf("%w: %w", ErrFailed, errors.Join(errSignaling, err)))
			}
		})
	}
}

// errSignaling is a letter that could not be sent.
var errSignaling = errors.New("call: signaling failed")
