package profile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/gofrs/flock"
)

// DefaultDir returns the platform's per-user data directory for the
// profile: $XDG_DATA_HOME/parley (usually ~/.local/share/parley) on Linux
// and other Unix systems, %AppData%\parley on Windows and
// ~/Library/Application Support/parley on macOS. Every user of a machine
// has their own, and it is never beside the binary.
//
// Parley 0.1.0-dev kept profiles in the user config directory
// ($XDG_CONFIG_HOME/parley, usually ~/.config/parley). When the data
// directory holds no profile and the config directory does,
// DefaultDir moves it over and leaves a symlink at the old place. If
// it cannot move it (the old profile is in use, or the move fails), it
// returns the old place, so the profile keeps working.
func DefaultDir() (string, error) {
	data, err := userDataDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(data, "parley")
	cfg, err := os.UserConfigDir()
	if err != nil {
		return dir, nil // no old place to look at
	}
	return adoptProfile(filepath.Join(cfg, "parley"), dir), nil
}

// userDataDir is the platform's per-user data directory: what
// os.UserConfigDir returns on Windows, macOS and Plan 9 (where data and
// settings share a place), $XDG_DATA_HOME or ~/.local/share elsewhere.
func userDataDir() (string, error) {
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		dir, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("profile: no user data directory: %w", err)
		}
		return dir, nil
	}
	if dir := os.Getenv("XDG_DATA_HOME"); dir != "" {
		if !filepath.IsAbs(dir) {
			return "", fmt.Errorf("profile: no user data directory: $XDG_DATA_HOME is relative: %q", dir)
		}
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("profile: no user data directory: %w", err)
	}
	return filepath.Join(home, ".local", "share"), nil
}

// adoptProfile returns the profile directory to use when dir is the right
// place and old the place older versions used: dir, after moving the
// profile from old to it if only old has one; old if that profile is in use
// or cannot be moved.
func adoptProfile(old, dir string) string {
	if old == dir || hasFile(filepath.Join(dir, DBFile)) || !hasFile(filepath.Join(old, DBFile)) {
		return dir
	}
	if fi, err := os.Lstat(old); err != nil || !fi.IsDir() {
		return old // a symlink or something odd: leave it to the user
	}
	lk := flock.New(filepath.Join(old, lockFile))
	if ok, err := lk.TryLock(); err != nil || !ok {
		return old // in use: the next start after it stops moves it
	}
	defer lk.Unlock()
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return old
	}
	if err := os.Rename(old, dir); err != nil {
		// E.g. dir exists and is not empty, or is on another file system.
		return old
	}
	// Older versions still find it; a failure here costs them only that.
	_ = os.Symlink(dir, old)
	return dir
}

// hasFile reports whether path exists (or cannot be checked).
func hasFile(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}
