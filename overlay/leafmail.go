package overlay

import (
	"context"
	"errors"
	"fmt"

	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/overlay/wire"
)

// Delivery is where an envelope went.
type Delivery struct {
	// Delivered: the recipient's peer acknowledged it.
	Delivered bool
	// Stored: the recipient is offline; this many supernodes keep it in
	// its mailbox until it logs in.
	Stored int
}

// Deliver hands a sealed envelope for peer to to the network: to the
// recipient at once if it is online, else into its mailboxes. It tries the
// primary supernode, then the standbys.
func (l *Leaf) Deliver(ctx context.Context, to identity.NodeID, data []byte) (Delivery, error) {
	if len(data) == 0 || len(data) > MaxEnvelope {
		return Delivery{}, fmt.Errorf("%w: %d bytes (limit %d)", ErrDeliveryRefused, len(data), MaxEnvelope)
	}
	links := l.currentLinks()
	if len(links) == 0 {
		return Delivery{}, fmt.Errorf("%w: not logged in", ErrUnavailable)
	}
	last := "no supernode answered"
	for _, link := range links {
		cctx, cancel := context.WithTimeout(ctx, 3*deliverTimeout)
		m, err := link.Call(cctx, func(id uint64) wire.Message {
			return &wire.Deliver{ReqID: id, Mode: wire.DeliverRoute, To: to[:], Data: data}
		})
		cancel()
		if err != nil {
			last = err.Error()
			if ctx.Err() != nil {
				break
			}
			continue
		}
		r, ok := m.(*wire.DeliverResult)
		if !ok {
			continue
		}
		switch r.Code {
		case wire.DeliverDelivered:
			return Delivery{Delivered: true}, nil
		case wire.DeliverStored:
			return Delivery{Stored: int(r.Copies)}, nil
		case wire.DeliverRefused:
			return Delivery{}, fmt.Errorf("%w: %s", ErrDeliveryRefused, r.Reason)
		}
		last = r.Reason
	}
	return Delivery{}, fmt.Errorf("%w: %s", ErrUnavailable, last)
}

// envelopeIn hands an envelope pushed by a supernode to OnEnvelope and
// answers: delivered once the handler took it.
func (l *Leaf) envelopeIn(link *Link, m *wire.Deliver) {
	r := &wire.DeliverResult{ReqID: m.ReqID, Code: wire.DeliverDelivered}
	from, _ := nodeIDFrom(m.From)
	if err := l.takeEnvelope(from, m.Data); err != nil {
		r.Code, r.Reason = wire.DeliverRefused, err.Error()
	}
	link.Send(r)
}

func (l *Leaf) takeEnvelope(from identity.NodeID, data []byte) error {
	if l.cfg.OnEnvelope == nil {
		return errors.New("this peer takes no envelopes")
	}
	return l.cfg.OnEnvelope(from, data)
}

// FetchMail fetches the envelopes waiting in this peer's mailboxes, hands
// each to OnEnvelope and acknowledges those it took, so that the supernodes
// delete them. It returns how many it took. The leaf calls it after each
// login and every presence refresh; it may be called at any time.
func (l *Leaf) FetchMail(ctx context.Context) (int, error) {
	select {
	case l.fetching <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-l.fetching }()
	took := 0
	for round := 0; round < 64; round++ {
		links := l.currentLinks()
		if len(links) == 0 {
			return took, fmt.Errorf("%w: not logged in", ErrUnavailable)
		}
		link := links[0]
		cctx, cancel := context.WithTimeout(ctx, 2*holderTimeout)
		m, err := link.Call(cctx, func(id uint64) wire.Message { return &wire.MailFetch{ReqID: id} })
		cancel()
		if err != nil {
			return took, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		r, ok := m.(*wire.MailResult)
		if !ok || r.Unavailable {
			return took, fmt.Errorf("%w: mailbox holders unavailable", ErrUnavailable)
		}
		var acks [][]byte
		for _, it := range r.Mail {
			from, _ := nodeIDFrom(it.From)
			if len(it.ID) != 16 || MailID(it.Data) != [16]byte(it.ID) {
				continue
			}
			if err := l.takeEnvelope(from, it.Data); err != nil {
				l.log.Debug("mail not taken", "err", err)
				continue
			}
			acks = append(acks, it.ID)
			took++
		}
		if len(acks) > 0 {
			link.Send(&wire.MailAck{IDs: acks})
		}
		if !r.More || len(acks) == 0 {
			return took, nil
		}
	}
	return took, nil
}

// fetchMailQuietly fetches mail if this peer takes envelopes, logging
// rather than returning a failure (the next refresh tries again).
func (l *Leaf) fetchMailQuietly(ctx context.Context) {
	if l.cfg.OnEnvelope == nil {
		return
	}
	if n, err := l.FetchMail(ctx); err != nil {
		l.log.Debug("mail not fetched", "err", err)
	} else if n > 0 {
		l.log.Info("mail fetched", "envelopes", n)
	}
}
