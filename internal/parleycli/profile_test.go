package parleycli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/app/control"
	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/internal/cli"
)

// offline reaches no network: profiles are made without claiming names.
var offline = app.Options{Seeds: app.Seeds{{Addr: "127.0.0.1:1"}}}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, os.Stdin, &out, &errOut)
	t.Logf("parley %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	return out.String(), err
}

func TestExportImportCommands(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "old")
	prof, err := app.Init(ctx, dir, "alice", offline)
	if err != nil {
		t.Fatal(err)
	}
	node := prof.NodeID()
	prof.Close()
	pw := filepath.Join(tmp, "pw")
	os.WriteFile(pw, []byte("correct horse battery\r\nignored second line\n"), 0o600)

	// No daemon: the command opens the profile itself.
	file := filepath.Join(tmp, "alice.parley")
	if _, err := runCLI(t, "--profile", dir, "export", file, "--password-file", pw); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "--profile", dir, "export", "--password-file", pw, file); err == nil {
		t.Fatal("export replaced an existing file")
	}
	short := filepath.Join(tmp, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	if _, err := runCLI(t, "--profile", dir, "export", filepath.Join(tmp, "x"), "--password-file", short); !errors.Is(err, profile.ErrWeakPassword) || cli.ExitCode(err) != cli.ExitUsage {
		t.Fatalf("export with a short password: %v", err)
	}

	moved := filepath.Join(tmp, "new")
	out, err := runCLI(t, "--profile", moved, "import", file, "--password-file", pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, node) || !strings.Contains(out, "alice") {
		t.Fatalf("import printed %q, want alice's node id %s", out, node)
	}
	if _, err := runCLI(t, "--profile", moved, "import", file, "--password-file", pw); !errors.Is(err, profile.ErrProfileExists) {
		t.Fatalf("a second import: %v, want ErrProfileExists", err)
	}
	wrong := filepath.Join(tmp, "wrong")
	os.WriteFile(wrong, []byte("correct horse battery staple"), 0o600)
	if _, err := runCLI(t, "--profile", filepath.Join(tmp, "w"), "import", file, "--password-file", wrong); !errors.Is(err, profile.ErrWrongPassword) || cli.ExitCode(err) != cli.ExitWrongPassword {
		t.Fatalf("import with a wrong password: %v (exit %d)", err, cli.ExitCode(err))
	}
	garbage := filepath.Join(tmp, "garbage")
	os.WriteFile(garbage, []byte("SQLite format 3\x00 or anything else"), 0o600)
	if _, err := runCLI(t, "--profile", filepath.Join(tmp, "w"), "import", garbage, "--password-file", pw); cli.ExitCode(err) != cli.ExitBadExport {
		t.Fatalf("import of garbage: %v (exit %d), want exit %d", err, cli.ExitCode(err), cli.ExitBadExport)
	}
	if _, err := runCLI(t, "--profile", filepath.Join(tmp, "w"), "import", "--password-file", pw); cli.ExitCode(err) != cli.ExitUsage {
		t.Fatalf("import without FILE: %v", err)
	}

	// A daemon holds the profile: the export goes through its socket.
	prof, err = profile.Open(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	defer prof.Close()
	opts := offline
	opts.Listen, opts.NoSupernode = "127.0.0.1:0", true
	peer, err := app.NewPeer(prof, opts)
	if err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- control.Run(pctx, moved, peer) }()
	defer func() { stop(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := control.Dial(moved); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	again := filepath.Join(tmp, "again.parley")
	out, err = runCLI(t, "--profile", moved, "export", again, "--password-file", pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, node) {
		t.Fatalf("export through the daemon printed %q", out)
	}
	out, err = runCLI(t, "--profile", filepath.Join(tmp, "third"), "import", again, "--password-file", pw)
	if err != nil || !strings.Contains(out, node) {
		t.Fatalf("import of the daemon's export: %v, %q", err, out)
	}
}

func TestReadPassword(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := readPassword("", false, r, &bytes.Buffer{}); cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), "--password-file") {
		t.Fatalf("no terminal and no file: %v", err)
	}
	dir := t.TempDir()
	for content, want := range map[string]string{
		"secret words\n":          "secret words",
		"secret words":            "secret words",
		"  spaced  \r\nnext\n":    "  spaced  ",
		"":                        "",
		"\nsecond line only\n":    "",
		strings.Repeat("x", 5000): "",
	} {
		p := filepath.Join(dir, "pw")
		os.WriteFile(p, []byte(content), 0o600)
		got, err := readPassword(p, true, r, &bytes.Buffer{})
		if want == "" {
			if err == nil {
				t.Errorf("password file %q: accepted as %q", content, got)
			}
		} else if err != nil || got != want {
			t.Errorf("password file %q: %q, %v; want %q", content, got, err, want)
		}
	}
}
