package control

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/internal/testutil"
)

// offline are options for a profile made with no network in reach.
var offline = app.Options{Seeds: app.Seeds{{Addr: "127.0.0.1:1"}}}

// running runs peer and its control socket until the test ends; the
// socket file must be gone after.
func running(t *testing.T, peer *app.Peer, dir string) {
	t.Helper()
	srv, err := Listen(dir, peer)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { srv.Serve(ctx) })
	wg.Go(func() {
		if err := peer.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if _, err := os.Stat(filepath.Join(dir, socketFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("control socket left behind: %v", err)
		}
	})
}

// dial waits for the control socket of dir.
func dial(t *testing.T, dir string) *Client {
	t.Helper()
	var c *Client
	testutil.Eventually(t, 5*time.Second, "the control socket", func() bool {
		var err error
		c, err = Dial(dir)
		return err == nil
	})
	return c
}

func TestStatusOverControlSocket(t *testing.T) {
	ctx := context.Background()
	snProf, err := app.InitNode(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snProf.Close() })
	sn, err := app.NewPeer(snProf, app.Options{Seed: true, Seeds: app.Seeds{}, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	running(t, sn, snProf.Dir)

	dir := t.TempDir()
	if _, err := Dial(dir); !errors.Is(err, app.ErrNotRunning) {
		t.Fatalf("Dial with no daemon: %v, want app.ErrNotRunning", err)
	}
	prof, err := app.Init(ctx, dir, "alice", offline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prof.Close() })
	leaf, err := app.NewPeer(prof, app.Options{Seeds: sn.AsSeed(), Listen: "127.0.0.1:0", NoSupernode: true})
	if err != nil {
		t.Fatal(err)
	}
	running(t, leaf, dir)
	c := dial(t, dir)
	var st app.Status
	testutil.Eventually(t, 10*time.Second, "alice logged in, over the socket", func() bool {
		st, err = c.Status()
		return err == nil && st.Primary != nil
	})
	if st.Role != app.RoleLeaf || st.Username != "alice" || st.NodeID != prof.NodeID() ||
		st.Fingerprint != prof.Fingerprint() || st.Primary.ID != snProf.NodeID() {
		t.Fatalf("status over the socket: %+v", st)
	}
	if _, err := c.Lookup("nobody"); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("lookup of a name nobody holds, over the socket: %v, want app.ErrNotFound", err)
	}
	testutil.Eventually(t, time.Minute, "alice's claim found over the socket, once her daemon published it", func() bool {
		r, err := c.Lookup("ALICE")
		return err == nil && r.NodeID == prof.NodeID()
	})
	sst, err := dial(t, snProf.Dir).Status()
	if err != nil {
		t.Fatal(err)
	}
	if sst.Role != app.RoleSeed || sst.Supernode == nil || sst.Supernode.Leaves != 1 {
		t.Fatalf("seed status: %+v", sst)
	}
}

// TestExportOverControlSocket: 'parley export' while a daemon holds the
// profile goes through its socket; a short password is refused before it
// is sent, an existing file is never overwritten, and the export imports
// as the same identity.
func TestExportOverControlSocket(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	prof, err := app.Init(ctx, dir, "alice", offline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prof.Close() })
	opts := offline
	opts.Listen, opts.NoSupernode = "127.0.0.1:0", true
	peer, err := app.NewPeer(prof, opts)
	if err != nil {
		t.Fatal(err)
	}
	running(t, peer, dir)
	c := dial(t, dir)
	if err := c.Export(filepath.Join(t.TempDir(), "x"), "short"); !errors.Is(err, profile.ErrWeakPassword) {
		t.Fatalf("Export with a short password: %v", err)
	}
	const password = "correct horse battery"
	path := filepath.Join(t.TempDir(), "alice.parley")
	if err := c.Export(path, password); err != nil {
		t.Fatal(err)
	}
	if err := c.Export(path, password); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("a second export to the same file: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Import(ctx, f, password, filepath.Join(t.TempDir(), "moved"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.NodeID() != prof.NodeID() || p.Username != "alice" {
		t.Fatal("the import has another identity")
	}
}
