package overlay

import (
	"context"
	"fmt"
	"sync"

	"github.com/parleynet/parley/overlay/wire"
)

// pending tracks the requests a link has in flight, by ReqID. The link's
// read loop hands every answer to deliver; Call waits for its own.
type pending struct {
	mu   sync.Mutex
	next uint64
	wait map[uint64]chan wire.Message
}

// reqIDOf returns the ReqID of an answer message.
func reqIDOf(m wire.Message) (uint64, bool) {
	switch m := m.(type) {
	case *wire.StoreResult:
		return m.ReqID, true
	case *wire.LookupResult:
		return m.ReqID, true
	case *wire.Endorsed:
		return m.ReqID, true
	case *wire.DeliverResult:
		return m.ReqID, true
	case *wire.MailResult:
		return m.ReqID, true
	case *wire.TurnResult:
		return m.ReqID, true
	}
	return 0, false
}

// Call sends the request that build makes with a fresh ReqID and waits for
// its answer, until ctx is done or the link closes.
func (l *Link) Call(ctx context.Context, build func(reqID uint64) wire.Message) (wire.Message, error) {
	p := &l.calls
	ch := make(chan wire.Message, 1)
	p.mu.Lock()
	if p.wait == nil {
		p.wait = make(map[uint64]chan wire.Message)
	}
	p.next++
	id := p.next
	p.wait[id] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.wait, id)
		p.mu.Unlock()
	}()
	if err := l.Send(build(id)); err != nil {
		return nil, err
	}
	select {
	case m := <-ch:
		return m, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("overlay: request to %s: %w", l.Peer().Short(), ctx.Err())
	case <-l.Done():
		return nil, fmt.Errorf("overlay: request to %s: %w", l.Peer().Short(), ErrClosed)
	}
}

// deliver routes an answer to the Call waiting for it. It reports whether m
// was an answer (an answer nobody waits for any more is dropped).
func (l *Link) deliver(m wire.Message) bool {
	id, ok := reqIDOf(m)
	if !ok {
		return false
	}
	p := &l.calls
	p.mu.Lock()
	ch := p.wait[id]
	p.mu.Unlock()
	if ch != nil {
		select {
		case ch <- m:
		default:
		}
	}
	return true
}
