package packaging

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// cgoOnly are the libraries that cannot build without cgo: the GUI toolkit
// (GLFW, OpenGL, the tray), libopus and miniaudio. A package that imports
// one of them is built for Linux only, where the C compiler is; every other
// package must build for Windows and macOS with CGO_ENABLED=0.
var cgoOnly = []string{
	"fyne.io/fyne/v2",
	"fyne.io/systray",
	"github.com/go-gl/",
	"github.com/hraban/opus",
	"github.com/gen2brain/malgo",
}

// mustCross are packages that must stay buildable without cgo on every
// platform: the peer, its protocols and storage, and the seed.
var mustCross = []string{
	"github.com/parleynet/parley/app",
	"github.com/parleynet/parley/overlay",
	"github.com/parleynet/parley/store",
	"github.com/parleynet/parley/chat",
	"github.com/parleynet/parley/call",
	"github.com/parleynet/parley/cmd/parley-seed",
}

type listed struct {
	ImportPath string
	GoFiles    []string
	Deps       []string
	Error      *struct{ Err string }
}

// crossPackages returns the repository's packages that build without cgo
// on goos, and those that need cgo (with the cgo-only library they import).
func crossPackages(t *testing.T, goos string) (build []string, cgo map[string]string) {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,GoFiles,Deps,Error", "./...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list for %s: %v", goos, err)
	}
	cgo = map[string]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p listed
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Error != nil {
			t.Errorf("%s does not load for %s: %s", p.ImportPath, goos, p.Error.Err)
			continue
		}
		if len(p.GoFiles) == 0 {
			continue // tests only
		}
		if lib := needsCgo(p); lib != "" {
			cgo[p.ImportPath] = lib
			continue
		}
		build = append(build, p.ImportPath)
	}
	return build, cgo
}

// needsCgo returns the cgo-only library p imports, directly or not, or "".
func needsCgo(p listed) string {
	for _, dep := range append([]string{p.ImportPath}, p.Deps...) {
		for _, lib := range cgoOnly {
			if strings.HasPrefix(dep, lib) {
				return dep
			}
		}
	}
	return ""
}

// TestCrossBuild builds every package that needs no cgo for Windows and
// macOS (amd64) with CGO_ENABLED=0, as a Windows or macOS build of the
// seed, the CLI's libraries or a future port starts from.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages: not run with -short")
	}
	if testing.Short() {
		t.Skip("compiles the tree twice: not in -short")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	for _, goos := range []string{"windows", "darwin"} {
		t.Run(goos, func(t *testing.T) {
			build, cgo := crossPackages(t, goos)
			for _, must := range mustCross {
				if lib, ok := cgo[must]; ok {
					t.Errorf("%s now imports %s, which needs cgo: it must build on every platform without it", must, lib)
				}
			}
			var skipped []string
			for p, lib := range cgo {
				skipped = append(skipped, fmt.Sprintf("%s (%s)", strings.TrimPrefix(p, "github.com/parleynet/parley/"), lib))
			}
			slices.Sort(skipped)
			t.Logf("%d packages; need cgo, not built: %s", len(build), strings.Join(skipped, ", "))

			start := time.Now()
			cmd := exec.Command("go", append([]string{"build"}, build...)...)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("GOOS=%s CGO_ENABLED=0 go build: %v\n%s", goos, err, out)
			}
			t.Logf("GOOS=%s CGO_ENABLED=0 go build: %.1f s", goos, time.Since(start).Seconds())
		})
	}
}
