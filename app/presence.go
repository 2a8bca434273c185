package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/overlay/wire"
)

// The user's own presence as they choose it.
const (
	PresenceOnline    = "online"
	PresenceAway      = "away"
	PresenceInvisible = "invisible" // appear offline: letters wait in mailboxes, fetched every 10 s
)

// SetPresence publishes the user's chosen presence: online, away or
// invisible. It is remembered in the settings.
func (p *Peer) SetPresence(ctx context.Context, presence string) error {
	if p.leaf == nil {
		return errors.New("app: a seed has no presence")
	}
	st, ok := presenceStatus(presence)
	if !ok {
		return fmt.Errorf("app: unknown presence %q", presence)
	}
	s, err := LoadSettings(ctx, p.prof)
	if err != nil {
		return err
	}
	s.Presence = presence
	if err := SaveSettings(ctx, p.prof, s); err != nil {
		return err
	}
	if err := p.leaf.SetPresence(ctx, st); err != nil && !errors.Is(err, overlay.ErrUnavailable) {
		return err
	}
	return nil
}

// presenceStatus is the status published for the user's chosen presence.
func presenceStatus(presence string) (uint8, bool) {
	switch presence {
	case PresenceOnline:
		return wire.StatusOnline, true
	case PresenceAway:
		return wire.StatusAway, true
	case PresenceInvisible:
		return wire.StatusOffline, true
	}
	return 0, false
}
