// Package pionlog routes the logs of pion (WebRTC, ICE, TURN) into slog.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// LevelTrace is the level of pion's trace messages.
//
// Level policy for pion's own messages. Pion rates from its point of view;
// most of what it calls an error is a remote party sending something odd,
// which is not ours to act on. So each of its messages is logged one step
// lower: its errors at Warn, its warnings at Info, its info and debug at
// Debug, and its trace four steps below Debug. A ceiling caps them all
// where even pion's errors are only ever about remote parties.
const LevelTrace = slog.LevelDebug - 4

// Factory adapts a *slog.Logger to pion's LoggerFactory: Log is where
// messages go, Ceiling the highest level pion's messages are logged at.
type Factory struct {
	Log     *slog.Logger
	Ceiling slog.Level
}

// NewLogger implements logging.LoggerFactory.
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	return pionScoped{f.Log.With("pion", scope), f.Ceiling}
}

type pionScoped struct {
	log     *slog.Logger
	ceiling slog.Level
}

func (l pionScoped) out(level slog.Level, msg string) {
	l.log.Log(context.Background(), min(level, l.ceiling), msg)
}

func (l pionScoped) outf(level slog.Level, format string, args ...any) {
	level = min(level, l.ceiling)
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l pionScoped) Trace(msg string)                  { l.out(LevelTrace, msg) }
func (l pionScoped) Tracef(format string, args ...any) { l.outf(LevelTrace, format, args...) }
func (l pionScoped) Debug(msg string)                  { l.out(slog.LevelDebug, msg) }
func (l pionScoped) Debugf(format string, args ...any) { l.outf(slog.LevelDebug, format, args...) }
func (l pionScoped) Info(msg string)                   { l.out(slog.LevelDebug, msg) }
func (l pionScoped) Infof(format string, args ...any)  { l.outf(slog.LevelDebug, format, args...) }
func (l pionScoped) Warn(msg string)                   { l.out(slog.LevelInfo, msg) }
func (l pionScoped) Warnf(format string, args ...any)  { l.outf(slog.LevelInfo, format, args...) }
func (l pionScoped) Error(msg string)                  { l.out(slog.LevelWarn, msg) }
func (l pionScoped) Errorf(format string, args ...any) { l.outf(slog.LevelWarn, format, args...) }
