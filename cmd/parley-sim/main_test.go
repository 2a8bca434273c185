package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestInterruptedRunKeepsItsProfile: a run stopped by SIGINT still
// writes its CPU profile (a gzipped pprof file) and says where.
func TestInterruptedRunKeepsItsProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the simulator")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "parley-sim")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	prof := filepath.Join(dir, "cpu.pprof")
	cmd := exec.Command(bin, "--scenario", "churn", "--nodes", "300", "--churn-duration", "100h", "--cpuprofile", prof)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // a run well under way, far from its end
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("interrupted run: %v (stderr %q), want exit code 130", err, stderr.String())
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 100 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("the profile is %d bytes, not a gzipped pprof file", len(b))
	}
	if !bytes.Contains(stderr.Bytes(), []byte(prof)) {
		t.Fatalf("stderr does not say where the profile is: %q", stderr.String())
	}
}
