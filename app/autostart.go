package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// autostartFile is the XDG autostart entry that starts Parley at login.
func autostartFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "autostart", "chat.parley.desktop"), nil
}

// SetStartAtLogin adds or removes the entry that starts Parley (this
// executable, on profile dir) when the user logs in. Only freedesktop
// systems (Linux, BSD) are supported so far.
func SetStartAtLogin(on bool, profileDir string) error {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		return fmt.Errorf("app: starting at login is not supported on %s yet", runtime.GOOS)
	}
	path, err := autostartFile()
	if err != nil {
		return fmt.Errorf("app: start at login: %w", err)
	}
	if !on {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("app: start at login: %w", err)
		}
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("app: start at login: %w", err)
	}
	entry := fmt.Sprintf("[Desktop Entry]\nType=Application\nName=Parley\nComment=Peer-to-peer messaging and voice calls\nExec=%s --profile %s --minimized\nIcon=chat.parley.desktop\nX-GNOME-Autostart-enabled=true\n",
		desktopQuote(exe), desktopQuote(profileDir))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("app: start at login: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(entry), 0o644); err != nil {
		return fmt.Errorf("app: start at login: %w", err)
	}
	return os.Rename(tmp, path)
}

// desktopQuote quotes an argument of a desktop entry's Exec key.
func desktopQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\\\`, `"`, `\\"`, "`", "\\\\`", `$`, `\\$`)
	return `"` + r.Replace(s) + `"`
}
