package packaging

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// unitSettings parses a systemd unit's Key=Value lines; a key set twice
// keeps every value.
func unitSettings(text string) map[string][]string {
	m := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok {
			m[k] = append(m[k], v)
		}
	}
	return m
}

// TestSeedUnit checks the seed's systemd unit: its own user, a read-only
// system with one state directory, restart on failure, and paths that
// match what the .deb installs.
func TestSeedUnit(t *testing.T) {
	unit := unitSettings(readFile(t, "packaging/seed/parley-seed.service"))
	recipe := readFile(t, "packaging/seed/parley-seed.yaml")
	want := map[string]string{
		"DynamicUser":           "yes",
		"StateDirectory":        "parley-seed",
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"PrivateTmp":            "yes",
		"NoNewPrivileges":       "yes",
		"CapabilityBoundingSet": "",
		"Restart":               "on-failure",
		"EnvironmentFile":       "-/etc/default/parley-seed",
		"WantedBy":              "multi-user.target",
	}
	for k, v := range want {
		if got := unit[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s=%q, want %q", k, got, v)
		}
	}
	exec := strings.Fields(strings.Join(unit["ExecStart"], " "))
	if len(exec) == 0 || exec[0] != "/usr/bin/parley-seed" {
		t.Errorf("ExecStart=%q does not run /usr/bin/parley-seed", unit["ExecStart"])
	}
	if !strings.Contains(strings.Join(exec, " "), "--data /var/lib/parley-seed") {
		t.Errorf("ExecStart=%q: the seed must keep its state in the StateDirectory, /var/lib/parley-seed", unit["ExecStart"])
	}
	for _, dst := range []string{"dst: /usr/bin/parley-seed", "dst: /etc/default/parley-seed", "dst: /lib/systemd/system/parley-seed.service"} {
		if !strings.Contains(recipe, dst) {
			t.Errorf("the .deb recipe does not install %s", strings.TrimPrefix(dst, "dst: "))
		}
	}
	if !regexp.MustCompile(`dst: /etc/default/parley-seed\n\s+type: config\|noreplace`).MatchString(recipe) {
		t.Error("/etc/default/parley-seed is not a conffile (type: config|noreplace)")
	}
}

// TestSeedSettingsAreFlags checks that every PARLEY_SEED_ variable the
// environment file offers is a flag parley-seed has, so a setting there is
// never silently ignored.
func TestSeedSettingsAreFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds parley-seed: not in -short")
	}
	bin := filepath.Join(t.TempDir(), "parley-seed")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/parley-seed")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/parley-seed: %v\n%s", err, out)
	}
	help, _ := exec.Command(bin, "--help").CombinedOutput()
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z-]+)`).FindAllStringSubmatch(string(help), -1) {
		flags[m[1]] = true
	}
	if !flags["listen"] {
		t.Fatalf("could not read the flags from parley-seed --help:\n%s", help)
	}
	vars := regexp.MustCompile(`(?m)^#?(PARLEY_SEED_[A-Z_]+)=`).FindAllStringSubmatch(readFile(t, "packaging/seed/parley-seed.default"), -1)
	if len(vars) < 5 {
		t.Fatalf("the environment file offers %d settings", len(vars))
	}
	for _, v := range vars {
		flag := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(v[1], "PARLEY_SEED_")), "_", "-")
		if !flags[flag] {
			t.Errorf("%s in /etc/default/parley-seed: parley-seed has no --%s", v[1], flag)
		}
	}
}

// TestDockerfile checks what can be checked of the seed's image recipe
// without a docker engine: a Go new enough for go.mod, a static build, a
// minimal base, a non-root user and the ports.
func TestDockerfile(t *testing.T) {
	df := readFile(t, "packaging/seed/Dockerfile")
	gomod := readFile(t, "go.mod")
	goLine := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(gomod)
	argLine := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\d+)\.(\d+)`).FindStringSubmatch(df)
	if goLine == nil || argLine == nil {
		t.Fatalf("no go line in go.mod (%v) or no ARG GO_VERSION in the Dockerfile (%v)", goLine, argLine)
	}
	if minor(argLine) < minor(goLine) {
		t.Errorf("the Dockerfile builds with Go %s.%s, go.mod asks for %s.%s", argLine[1], argLine[2], goLine[1], goLine[2])
	}
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) != 2 || !strings.HasPrefix(froms[0][1], "golang:") {
		t.Fatalf("want two stages, a golang builder and the image: %q", froms)
	}
	if base := froms[1][1]; base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("the image's base is %s, want distroless/static or scratch", base)
	}
	user := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(df)
	if user == nil || user[1] == "root" || strings.HasPrefix(user[1], "0") {
		t.Errorf("the image runs as %v, want a non-root USER", user)
	}
	for _, s := range []string{"CGO_ENABLED=0", "./cmd/parley-seed", "4717/tcp", "4717/udp", "github.com/parleynet/parley/app.Version="} {
		if !strings.Contains(df, s) {
			t.Errorf("the Dockerfile lacks %q", s)
		}
	}
}

func minor(m []string) int {
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return major*1000 + minor
}

// TestChangelogNamesTheVersion checks that the packages' changelog starts
// with FyneApp.toml's version, as Debian expects of a release.
func TestChangelogNamesTheVersion(t *testing.T) {
	first, _, _ := strings.Cut(readFile(t, "packaging/debian/changelog"), "\n")
	want := "parley (" + version(t) + ") "
	if !strings.HasPrefix(first, want) {
		t.Errorf("packaging/debian/changelog starts %q, want %q…: add an entry for the new version", first, want)
	}
}
