// Package testutil holds what the project's tests share: a logger, waiting
// for a condition, and a cheap proof of work.
package testutil

import (
	"log/slog"
	"os"
	"testing"
)

// Logger returns the logger of test t: it writes through t.Log when
// PARLEY_TEST_LOG is set ("trace" also shows pion's trace messages), and
// discards otherwise.
func Logger(t testing.TB) *slog.Logger {
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
