package main

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/parleynet/parley/internal/cli"
)

func TestParsePortRange(t *testing.T) {
	for _, c := range []struct {
		in     string
		lo, hi uint16
		ok     bool
	}{
		{"", 0, 0, true},
		{"49152-49407", 49152, 49407, true},
		{"50000-50000", 50000, 50000, true},
		{" 40000 - 40100 ", 40000, 40100, true},
		{"49407-49152", 0, 0, false},
		{"80-90", 0, 0, false},
		{"49152", 0, 0, false},
		{"49152-", 0, 0, false},
		{"-49152", 0, 0, false},
		{"49152-70000", 0, 0, false},
		{"a-b", 0, 0, false},
		{"49152-49153-49154", 0, 0, false},
	} {
		lo, hi, err := parsePortRange(c.in)
		if (err == nil) != c.ok || lo != c.lo || hi != c.hi {
			t.Errorf("parsePortRange(%q) = %d, %d, %v; want %d, %d, ok %v", c.in, lo, hi, err, c.lo, c.hi, c.ok)
		}
	}
}

func TestBadRelayPortsIsAUsageError(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"--relay-ports", "9-1", "--data", t.TempDir()}, &out, &errOut)
	var ue cli.UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want a usage error", err)
	}
}
