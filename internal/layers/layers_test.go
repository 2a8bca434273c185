package layers

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/parleynet/parley"

// pkg is what go list says of one package.
type pkg struct {
	ImportPath   string
	Dir          string
	GoFiles      []string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// packages lists the module's packages (not their tests).
func packages(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = root(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := make(map[string]pkg)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")] = p
	}
	return pkgs
}

// root is the module's directory.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// own returns p's imports of the module's packages, relative ("" is the
// root), with its tests' if tests is set.
func own(p pkg, tests bool) []string {
	var out []string
	imports := p.Imports
	if tests {
		imports = append(append(append([]string(nil), imports...), p.TestImports...), p.XTestImports...)
	}
	for _, imp := range imports {
		if imp == module {
			out = append(out, "")
		} else if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
			out = append(out, rel)
		}
	}
	return out
}

// under reports whether rel is package prefix or one below it.
func under(rel, prefix string) bool { return rel == prefix || strings.HasPrefix(rel, prefix+"/") }

func TestLayers(t *testing.T) {
	pkgs := packages(t)
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	rules := []struct {
		from   func(string) bool
		what   string
		banned func(string) bool
		tests  bool // the rule holds for the package's tests too
	}{
		{
			from:   func(p string) bool { return p == "" },
			what:   "the root imports only the command tree",
			banned: func(i string) bool { return i != "internal/parleycli" },
		},
		{
			// Above app: the UI, the command trees and the seed speak only to
			// app. The sound devices (call/audio/device) are hardware, below
			// nothing of the network; parley-loadgen and the simulator drive
			// the overlay protocol itself, on purpose.
			from: func(p string) bool {
				return p == "ui" || p == "app/control" || under(p, "internal/parleycli") || p == "internal/cli" || p == "cmd/parley-seed"
			},
			what: "nothing above app imports overlay, letters, chat or call",
			banned: func(i string) bool {
				return under(i, "overlay") || i == "letters" || i == "chat" || i == "call" || i == "call/audio"
			},
			tests: true,
		},
		{
			from:   func(p string) bool { return under(p, "chat") },
			what:   "chat imports nothing of call",
			banned: func(i string) bool { return under(i, "call") || i == "app" },
		},
		{
			from:   func(p string) bool { return p == "call" || p == "call/audio" },
			what:   "call imports nothing of chat",
			banned: func(i string) bool { return under(i, "chat") || i == "app" },
		},
		{
			from:   func(p string) bool { return p == "letters" },
			what:   "letters imports none of the services above it",
			banned: func(i string) bool { return i == "chat" || under(i, "call") || i == "app" },
		},
		{
			from: func(p string) bool { return under(p, "overlay") },
			what: "overlay imports none of app, letters, chat, call",
			banned: func(i string) bool {
				return i == "app" || i == "letters" || i == "chat" || under(i, "call") || i == "ui"
			},
		},
		{
			from: func(p string) bool { return p == "rtc" },
			what: "rtc is WebRTC for chat and call: it imports nothing of the overlay or the services",
			banned: func(i string) bool {
				return under(i, "overlay") || i == "letters" || i == "chat" || under(i, "call") || i == "app"
			},
		},
		{
			from:   func(p string) bool { return p == "app/profile" },
			what:   "app/profile is the profile on disk: it imports only store and overlay/identity",
			banned: func(i string) bool { return i != "store" && i != "overlay/identity" },
		},
		{
			from:   func(p string) bool { return p == "overlay/identity" },
			what:   "overlay/identity is pure: it imports nothing of the project",
			banned: func(string) bool { return true },
		},
		{
			from:   func(p string) bool { return p == "overlay/record" },
			what:   "overlay/record is pure: it imports only identity and the wire codec",
			banned: func(i string) bool { return i != "overlay/identity" && i != "overlay/wire" },
		},
		{
			from:   func(p string) bool { return p == "store" },
			what:   "store imports nothing of the project",
			banned: func(string) bool { return true },
		},
	}
	for rel, p := range pkgs {
		for _, r := range rules {
			if !r.from(rel) {
				continue
			}
			for _, imp := range own(p, r.tests) {
				if r.banned(imp) {
					t.Errorf("%s: %q imports %q", r.what, "./"+rel, "./"+imp)
				}
			}
		}
	}
}

// TestNoFunctionOver120Lines: a function that long is several functions.
func TestNoFunctionOver120Lines(t *testing.T) {
	fset := token.NewFileSet()
	for _, p := range packages(t) {
		for _, name := range p.GoFiles {
			path := filepath.Join(p.Dir, name)
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if ast.IsGenerated(f) {
				continue
			}
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				lines := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
				if lines > 120 {
					rel, _ := filepath.Rel(root(t), path)
					t.Errorf("%s: %s is %d lines", rel, fn.Name.Name, lines)
				}
			}
		}
	}
}

// TestSupernodeHasAtMost25Methods: the supernode keeps accept, admission
// and routing; its services (directory, mailboxes, relay, membership,
// election) are types of their own.
func TestSupernodeHasAtMost25Methods(t *testing.T) {
	p := packages(t)["overlay"]
	fset := token.NewFileSet()
	var methods []string
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 {
				continue
			}
			typ := fn.Recv.List[0].Type
			if star, ok := typ.(*ast.StarExpr); ok {
				typ = star.X
			}
			if id, ok := typ.(*ast.Ident); ok && id.Name == "Supernode" {
				methods = append(methods, fn.Name.Name)
			}
		}
	}
	if len(methods) == 0 || len(methods) > 25 {
		t.Errorf("overlay.Supernode has %d methods, want 1 to 25: %v", len(methods), methods)
	}
}

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("go"); err != nil {
		os.Stderr.WriteString("layers: no go command\n")
		os.Exit(1)
	}
	os.Exit(m.Run())
}
