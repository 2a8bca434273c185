package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/store"
)

// Settings are the user's choices, kept in the profile (so an exported
// profile takes them along).
type Settings struct {
	// Seeds replace the built-in seeds when not empty (host:port or
	// NODEID@host:port).
	Seeds []string `json:"seeds,omitempty"`
	// InputDevice and OutputDevice name the sound devices ("" is the
	// system's default).
	InputDevice  string `json:"input_device,omitempty"`
	OutputDevice string `json:"output_device,omitempty"`
	// StartAtLogin starts Parley when the user logs in.
	StartAtLogin bool `json:"start_at_login"`
	// NotifyMessages and NotifyCalls show desktop notifications when the
	// window is not focused; Sounds plays the message sound and ringtone.
	NotifyMessages bool `json:"notify_messages"`
	NotifyCalls    bool `json:"notify_calls"`
	Sounds         bool `json:"sounds"`
	// CloseToTray keeps Parley running in the tray when the window closes.
	CloseToTray bool `json:"close_to_tray"`
	// Presence is the user's chosen presence (online, away, invisible).
	Presence string `json:"presence,omitempty"`
	// WindowWidth and WindowHeight are the window's last size.
	WindowWidth  float32 `json:"window_width,omitempty"`
	WindowHeight float32 `json:"window_height,omitempty"`
}

// DefaultSettings are the settings of a new profile.
func DefaultSettings() Settings {
	return Settings{NotifyMessages: true, NotifyCalls: true, Sounds: true, CloseToTray: true, Presence: PresenceOnline}
}

const settingUI = "ui_settings"

// LoadSettings returns the profile's settings; defaults for what was
// never set. A damaged value gives the defaults, not an error: settings must
// never keep the app from starting.
func LoadSettings(ctx context.Context, p *profile.Profile) (Settings, error) {
	s := DefaultSettings()
	v, err := p.DB.Setting(ctx, settingUI)
	if errors.Is(err, store.ErrNotFound) {
		return s, nil
	} else if err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return DefaultSettings(), nil
	}
	switch s.Presence {
	case PresenceOnline, PresenceAway, PresenceInvisible:
	default:
		s.Presence = PresenceOnline
	}
	return s, nil
}

// SaveSettings stores s in profile p, after checking its seeds.
func SaveSettings(ctx context.Context, p *profile.Profile, s Settings) error {
	if _, err := ParseSeeds(s.Seeds); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return p.DB.SetSetting(ctx, settingUI, string(b))
}

// Seeds are bootstrap supernodes, as ParseSeeds reads them; nil means the
// built-in seeds.
type Seeds []overlay.SeedAddr

// ParseSeeds parses seed addresses (host:port or NODEID@host:port); an
// empty list gives nil, which means the built-in seeds.
func ParseSeeds(list []string) (Seeds, error) {
	var clean []string
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			clean = append(clean, s)
		}
	}
	if len(clean) == 0 {
		return nil, nil
	}
	seeds, err := overlay.ParseSeeds(strings.Join(clean, ","))
	if err != nil {
		return nil, fmt.Errorf("app: seeds: %w", err)
	}
	return seeds, nil
}
