// Package testlog gives tests a logger that writes through t.Log when
// PARLEY_TEST_LOG is set ("trace" also shows pion's trace messages), and
// discards otherwise.
package testlog

import (
	"log/slog"
	"os"
	"testing"
)

// New returns the logger of test t.
func New(t testing.TB) *slog.Logger {
	switch os.Getenv("PARLEY_TEST_LOG") {
	case "":
		return slog.New(slog.DiscardHandler)
	case "trace":
		return slog.New(slog.NewTextHandler(writer{t}, &slog.HandlerOptions{Level: slog.LevelDebug - 4}))
	}
	return slog.New(slog.NewTextHandler(writer{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type writer struct{ t testing.TB }

func (w writer) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }
