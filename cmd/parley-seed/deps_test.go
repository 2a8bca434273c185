package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSeedImportsNoGUIOrAudio keeps the seed a small, static server
// binary: no GUI, no audio, no cgo.
func TestSeedImportsNoGUIOrAudio(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps with CGO_ENABLED=0: %v", err)
	}
	forbidden := []string{"fyne.io/", "github.com/hajimehoshi/oto", "github.com/gen2brain/malgo", "opus",
		"github.com/go-gl/", "github.com/parleynet/parley/ui", "github.com/parleynet/parley/call/audio"}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps gave %d packages", len(deps))
	}
	for _, dep := range deps {
		for _, f := range forbidden {
			if strings.Contains(dep, f) {
				t.Errorf("parley-seed depends on %s", dep)
			}
		}
	}
}
