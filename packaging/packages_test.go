package packaging

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// root is the repository's root.
var root = func() string {
	dir, err := filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	return dir
}()

// The Debian release the .debs are tested on, and where it comes from.
const (
	suite  = "bookworm"
	mirror = "http://deb.debian.org/debian"
)

// hicolorSizes are the icon sizes the desktop .deb must carry (the
// freedesktop hicolor theme's fixed sizes).
var hicolorSizes = []int{16, 22, 24, 32, 48, 64, 128, 256, 512}

// version is FyneApp.toml's version, which both binaries and packages carry.
func version(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "FyneApp.toml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^Version = "([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("FyneApp.toml has no Version")
	}
	return string(m[1])
}

// commit is the commit the Makefile stamps, without a -dirty mark, or ""
// if there is no git checkout.
func commit(t *testing.T) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// run runs a command and returns its combined output, failing the test
// with that output if it fails.
func run(t *testing.T, timeout time.Duration, dir string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out.String(), 6000))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Logf("%s %s: %.1f s", name, strings.Join(args, " "), d.Seconds())
	}
	return out.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// needTools skips the test unless it runs as root on Linux with every one
// of tools on PATH.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds packages and a Debian root: not in -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("Debian packages are built and installed on Linux only")
	}
	if os.Geteuid() != 0 {
		t.Skip("installing packages in a debootstrap root needs root (packaging/install-deps.sh --test installs the tools as root)")
	}
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Skipf("missing %s (packaging/install-deps.sh --test installs them)", strings.Join(missing, ", "))
	}
}

// TestPackages runs `make package` and checks what it made: the stamped
// version, the tarball, the two .debs (contents, control fields, lintian,
// a static seed, the unit's exposure); then installs both with apt in a
// clean Debian root and runs them there (--version, the seed serving, two
// users' profiles, the window on Xvfb, purge), and boots a root with the
// seed's .deb under systemd to check its service.
func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages: not run with -short")
	}
	needTools(t, "make", "dpkg-deb", "lintian", "debootstrap", "chroot", "file", "tar", "xz")
	ver, com := version(t), commit(t)
	// Into a directory of its own: the checkout's build/ and dist/ are
	// left to the people working in it, and two runs do not collide.
	out := t.TempDir()
	build, dist := filepath.Join(out, "build"), filepath.Join(out, "dist")
	run(t, 20*time.Minute, root, "make", "package", "BUILD="+build, "DIST="+dist)

	desktopDeb := filepath.Join(dist, fmt.Sprintf("parley_%s_amd64.deb", ver))
	seedDeb := filepath.Join(dist, fmt.Sprintf("parley-seed_%s_amd64.deb", ver))
	tarball := filepath.Join(dist, fmt.Sprintf("parley-%s-linux-amd64.tar.xz", ver))
	seedBin := filepath.Join(dist, fmt.Sprintf("parley-seed-%s-linux-amd64", ver))
	for _, f := range []string{desktopDeb, seedDeb, tarball, seedBin} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatalf("make package did not make %s: %v", f, err)
		}
		t.Logf("%s: %.1f MB", filepath.Base(f), float64(fi.Size())/1e6)
	}

	t.Run("stamped", func(t *testing.T) {
		for _, bin := range []string{"release/parley", "release/parley-seed"} {
			out, err := exec.Command(filepath.Join(build, bin), "--version").Output()
			if err != nil {
				t.Fatalf("%s --version: %v", bin, err)
			}
			checkVersion(t, string(out), filepath.Base(bin), ver, com)
		}
	})
	t.Run("tarball", func(t *testing.T) {
		list := run(t, time.Minute, root, "tar", "-tJf", tarball)
		for _, want := range []string{"parley/Makefile", "parley/usr/local/bin/parley",
			"parley/usr/local/share/applications/Parley.desktop", "parley/usr/local/share/pixmaps/Parley.png"} {
			if !slices.Contains(strings.Fields(list), want) {
				t.Errorf("the .tar.xz lacks %s; it holds:\n%s", want, list)
			}
		}
	})
	t.Run("desktop deb", func(t *testing.T) {
		want := []string{
			"/usr/bin/parley",
			"/usr/share/applications/chat.parley.desktop.desktop",
			"/usr/share/doc/parley/copyright",
			"/usr/share/doc/parley/changelog.gz",
			"/usr/share/man/man1/parley.1.gz",
		}
		for _, n := range hicolorSizes {
			want = append(want, fmt.Sprintf("/usr/share/icons/hicolor/%dx%d/apps/parley.png", n, n))
		}
		checkContents(t, desktopDeb, want)
		checkField(t, desktopDeb, "Package", "parley")
		checkField(t, desktopDeb, "Version", ver)
		deps := field(t, desktopDeb, "Depends")
		for _, dep := range []string{"libgl1", "libx11-6", "libasound2 | libasound2t64", "libopus0"} {
			if !slices.Contains(strings.Split(deps, ", "), dep) {
				t.Errorf("Depends %q lacks %q", deps, dep)
			}
		}
		checkLintian(t, desktopDeb)
	})
	t.Run("seed deb", func(t *testing.T) {
		checkContents(t, seedDeb, []string{
			"/usr/bin/parley-seed",
			"/lib/systemd/system/parley-seed.service",
			"/etc/default/parley-seed",
			"/usr/share/doc/parley-seed/copyright",
			"/usr/share/doc/parley-seed/changelog.gz",
			"/usr/share/man/man8/parley-seed.8.gz",
		})
		checkField(t, seedDeb, "Package", "parley-seed")
		checkField(t, seedDeb, "Version", ver)
		ctrl := t.TempDir()
		run(t, time.Minute, root, "dpkg-deb", "--control", seedDeb, ctrl)
		conffiles, _ := os.ReadFile(filepath.Join(ctrl, "conffiles"))
		if strings.TrimSpace(string(conffiles)) != "/etc/default/parley-seed" {
			t.Errorf("conffiles = %q, want /etc/default/parley-seed (a local edit must survive upgrades)", conffiles)
		}
		for _, s := range []string{"postinst", "prerm", "postrm"} {
			if fi, err := os.Stat(filepath.Join(ctrl, s)); err != nil || fi.Mode().Perm()&0o100 == 0 {
				t.Errorf("maintainer script %s missing or not executable: %v", s, err)
			}
		}
		checkLintian(t, seedDeb)

		// The binary inside the .deb, not only the one in build/.
		x := t.TempDir()
		run(t, time.Minute, root, "dpkg-deb", "-x", seedDeb, x)
		out := run(t, time.Minute, root, "file", "-b", filepath.Join(x, "usr/bin/parley-seed"))
		if !strings.Contains(out, "statically linked") {
			t.Errorf("file says the packaged parley-seed is %q, want statically linked", strings.TrimSpace(out))
		}
		if exec.Command("systemd-analyze", "--version").Run() == nil {
			checkUnitSecurity(t, x)
		}
	})
	if t.Failed() {
		return
	}
	t.Run("installed in a clean Debian root", func(t *testing.T) {
		chroot := debianRoot(t)
		for _, deb := range []string{desktopDeb, seedDeb} {
			copyFile(t, deb, filepath.Join(chroot, "tmp", filepath.Base(deb)))
		}
		installWithApt(t, chroot, "/tmp/"+filepath.Base(desktopDeb), "/tmp/"+filepath.Base(seedDeb))
		// On the PATH, by name: what a person types.
		checkVersion(t, inRoot(t, chroot, time.Minute, "parley", "--version"), "parley", ver, com)
		checkVersion(t, inRoot(t, chroot, time.Minute, "parley-seed", "--version"), "parley-seed", ver, com)
		if _, err := os.Stat(filepath.Join(chroot, "etc/default/parley-seed")); err != nil {
			t.Errorf("the seed's settings file was not installed: %v", err)
		}
		seedRuns(t, chroot)
		profilesPerUser(t, chroot)
		windowOpens(t, chroot)
		// Removing them runs the maintainer scripts the other way.
		inRoot(t, chroot, 5*time.Minute, "apt-get", "purge", "-y", "-qq", "-o", "Dpkg::Use-Pty=0", "parley", "parley-seed")
		for _, f := range []string{"usr/bin/parley", "usr/bin/parley-seed", "etc/default/parley-seed", "var/lib/parley-seed"} {
			if _, err := os.Lstat(filepath.Join(chroot, f)); err == nil {
				t.Errorf("%s is still there after apt-get purge", f)
			}
		}
	})
	t.Run("seed service under systemd", func(t *testing.T) {
		seedService(t, seedDeb)
	})
}

// checkVersion checks a --version line: the binary's name, the version and
// the commit it was built from.
func checkVersion(t *testing.T, out, name, ver, com string) {
	t.Helper()
	out = strings.TrimSpace(out)
	want := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + ` ` + regexp.QuoteMeta(ver) + ` \(([0-9a-f]+|unknown)(-dirty)?\)$`)
	m := want.FindStringSubmatch(out)
	if m == nil {
		t.Errorf("%s --version printed %q, want %q", name, out, name+" "+ver+" (COMMIT)")
		return
	}
	if com != "" && m[1] != com || com == "" && m[1] != "unknown" {
		t.Errorf("%s --version says commit %s, the checkout is at %s", name, m[1], com)
	}
}

// debContents lists the paths in deb.
func debContents(t *testing.T, deb string) []string {
	t.Helper()
	var paths []string
	for _, line := range strings.Split(run(t, time.Minute, root, "dpkg-deb", "-c", deb), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		p := strings.TrimPrefix(f[5], ".")
		paths = append(paths, strings.TrimSuffix(p, "/"))
	}
	return paths
}

func checkContents(t *testing.T, deb string, want []string) {
	t.Helper()
	have := debContents(t, deb)
	for _, w := range want {
		if !slices.Contains(have, w) {
			t.Errorf("%s lacks %s", filepath.Base(deb), w)
		}
	}
	for _, p := range have {
		if strings.HasPrefix(p, "/usr/local") || strings.HasPrefix(p, "/home") || strings.HasPrefix(p, "/opt") {
			t.Errorf("%s installs %s: Debian packages stay out of /usr/local, /home and /opt", filepath.Base(deb), p)
		}
	}
}

func field(t *testing.T, deb, name string) string {
	t.Helper()
	return strings.TrimSpace(run(t, time.Minute, root, "dpkg-deb", "-f", deb, name))
}

func checkField(t *testing.T, deb, name, want string) {
	t.Helper()
	if got := field(t, deb, name); got != want {
		t.Errorf("%s: %s = %q, want %q", filepath.Base(deb), name, got, want)
	}
}

// checkLintian fails on any lintian error; warnings and notes are logged.
func checkLintian(t *testing.T, deb string) {
	t.Helper()
	cmd := exec.Command("lintian", "--tag-display-limit", "0", "--fail-on", "none", deb)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lintian %s: %v\n%s", deb, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "E: "):
			t.Errorf("lintian: %s", line)
		case strings.HasPrefix(line, "W: "), strings.HasPrefix(line, "I: "):
			t.Logf("lintian: %s", line)
		}
	}
}

// checkUnitSecurity asks systemd-analyze for the seed unit's exposure: the
// hardening must keep it at "OK" (below 4.0 of 10).
func checkUnitSecurity(t *testing.T, pkgRoot string) {
	t.Helper()
	unit := filepath.Join(pkgRoot, "lib/systemd/system/parley-seed.service")
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", unit).CombinedOutput()
	if err != nil && !bytes.Contains(out, []byte("Overall exposure")) {
		t.Logf("systemd-analyze security could not judge the unit offline: %v\n%s", err, tail(string(out), 2000))
		return
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Errorf("systemd-analyze security printed no exposure level:\n%s", tail(string(out), 2000))
		return
	}
	t.Logf("systemd-analyze security: exposure %s %s", m[1], m[2])
	var score float64
	fmt.Sscan(string(m[1]), &score)
	if score >= 4 {
		t.Errorf("the seed's unit has exposure %s %s; the hardening should keep it below 4.0:\n%s", m[1], m[2], tail(string(out), 4000))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// debianRoot returns a fresh minimal Debian root (debootstrap
// --variant=minbase) in a temporary directory, unpacked from a tarball
// cached under the user's cache directory ($XDG_CACHE_HOME/parley, or
// $PARLEY_TEST_CACHE); the first run makes the tarball (about 30 s from
// deb.debian.org) and later ones unpack it. A tarball older than a week is
// made again, so package lists stay near the mirror's.
func debianRoot(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("PARLEY_TEST_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			t.Skipf("no cache directory for the Debian root: %v", err)
		}
		cache = filepath.Join(dir, "parley")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(cache, "debootstrap-"+suite+"-minbase-amd64.tar.gz")
	chroot := t.TempDir()
	if fi, err := os.Stat(tarball); err == nil && time.Since(fi.ModTime()) < 7*24*time.Hour {
		run(t, 5*time.Minute, root, "tar", "-xzpf", tarball, "--numeric-owner", "-C", chroot)
		return chroot
	}
	start := time.Now()
	run(t, 15*time.Minute, root, "debootstrap", "--variant=minbase", suite, chroot, mirror)
	copyFile(t, "/etc/resolv.conf", filepath.Join(chroot, "etc/resolv.conf"))
	inRoot(t, chroot, 5*time.Minute, "apt-get", "update", "-qq")
	t.Logf("debootstrap %s and apt-get update: %.1f s", suite, time.Since(start).Seconds())
	tmp := tarball + ".tmp"
	run(t, 5*time.Minute, root, "tar", "-czpf", tmp, "--numeric-owner", "-C", chroot, ".")
	if err := os.Rename(tmp, tarball); err != nil {
		t.Fatal(err)
	}
	return chroot
}

// inRoot runs a command inside chroot with a clean environment and returns
// its standard output; the test fails with its output if it fails.
func inRoot(t *testing.T, chroot string, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{chroot, "env", "-i",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"DEBIAN_FRONTEND=noninteractive", "HOME=/root"}, args...)
	cmd := exec.CommandContext(ctx, "chroot", full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("in the Debian root, %s: %v\n%s%s", strings.Join(args, " "), err,
			tail(stdout.String(), 4000), tail(stderr.String(), 4000))
	}
	if stderr.Len() > 0 {
		t.Logf("in the Debian root, %s wrote to stderr:\n%s", strings.Join(args, " "), tail(stderr.String(), 2000))
	}
	return stdout.String()
}

// installWithApt installs the .deb files (paths inside chroot) with apt, so
// that their dependencies come from the mirror.
func installWithApt(t *testing.T, chroot string, debs ...string) {
	t.Helper()
	copyFile(t, "/etc/resolv.conf", filepath.Join(chroot, "etc/resolv.conf"))
	inRoot(t, chroot, 5*time.Minute, "apt-get", "update", "-qq")
	start := time.Now()
	inRoot(t, chroot, 10*time.Minute, append([]string{"apt-get", "install", "-y", "-qq", "-o", "Dpkg::Use-Pty=0", "--no-install-recommends"}, debs...)...)
	t.Logf("apt-get install of the .debs and their dependencies: %.1f s", time.Since(start).Seconds())
	for _, deb := range debs {
		name := strings.SplitN(filepath.Base(deb), "_", 2)[0]
		if st := inRoot(t, chroot, time.Minute, "dpkg-query", "-W", "-f=${Status}", name); st != "install ok installed" {
			t.Errorf("dpkg says %s is %q", name, st)
		}
	}
}

// seedRuns starts the installed seed in chroot as the unit would (its state
// in /var/lib/parley-seed), waits until it serves, and stops it with
// SIGTERM, which must end it cleanly: the static binary works on a system
// with nothing but its package installed.
func seedRuns(t *testing.T, chroot string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chroot", chroot, "env", "-i", "/usr/bin/parley-seed",
		"--data", "/var/lib/parley-seed", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log []string
	up := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log = append(log, sc.Text())
		if strings.Contains(sc.Text(), "http up") {
			up = true
			break
		}
	}
	if !up {
		cmd.Wait()
		t.Fatalf("the installed parley-seed did not come up:\n%s", strings.Join(log, "\n"))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	io.Copy(io.Discard, stderr) // until it exits
	if err := cmd.Wait(); err != nil {
		t.Errorf("parley-seed on SIGTERM: %v, want exit 0", err)
	}
	if _, err := os.Stat(filepath.Join(chroot, "var/lib/parley-seed/parley.db")); err != nil {
		t.Errorf("the seed kept no state in /var/lib/parley-seed: %v", err)
	}
}

// seedService installs the seed's .deb in a clean Debian root with systemd,
// boots that root as a container (systemd-nspawn, its own network), and
// checks the service as a server would run it: enabled by the package,
// started at boot under the hardened unit as a user of its own, answering
// /healthz, restarted after a crash, and stopped cleanly.
func seedService(t *testing.T, seedDeb string) {
	for _, tool := range []string{"systemd-nspawn", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s to boot a container (packaging/install-deps.sh --test installs systemd-container)", tool)
		}
	}
	chroot := debianRoot(t)
	copyFile(t, seedDeb, filepath.Join(chroot, "tmp", filepath.Base(seedDeb)))
	installWithApt(t, chroot, "systemd", "systemd-sysv", "dbus", "/tmp/"+filepath.Base(seedDeb))

	boot := exec.Command("systemd-nspawn", "-D", chroot, "--boot", "--register=no", "--keep-unit",
		"--private-network", "-q", "--console=passive")
	var console bytes.Buffer
	boot.Stdout, boot.Stderr = &console, &console
	if err := boot.Start(); err != nil {
		t.Skipf("systemd-nspawn: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- boot.Wait() }()
	t.Cleanup(func() {
		boot.Process.Signal(syscall.SIGTERM) // the container powers off
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			boot.Process.Kill()
			<-exited
		}
	})
	var leader int
	for deadline := time.Now().Add(30 * time.Second); leader == 0; {
		leader = childOf(boot.Process.Pid)
		select {
		case err := <-exited:
			exited <- err
			t.Skipf("this machine cannot boot a container: systemd-nspawn: %v\n%s", err, tail(console.String(), 2000))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Skip("this machine cannot boot a container: no init process under systemd-nspawn")
		}
	}
	in := func(args ...string) (string, error) {
		full := append([]string{"-t", strconv.Itoa(leader), "-a", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, args...)
		out, err := exec.Command("nsenter", full...).Output()
		return strings.TrimSpace(string(out)), err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st, _ := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(leader), "-a", "systemctl", "is-system-running", "--wait").Output()
	if s := strings.TrimSpace(string(st)); s != "running" && s != "degraded" {
		t.Skipf("the container's systemd did not come up (%q); this machine may not run containers", s)
	}
	if s, _ := in("systemctl", "is-enabled", "parley-seed"); s != "enabled" {
		t.Errorf("parley-seed.service is %q after install, want enabled", s)
	}
	healthz := func() string {
		out, _ := in("bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/9717 && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && cat <&3`)
		return out
	}
	// waitFor polls cond for up to d.
	waitFor := func(d time.Duration, cond func() bool) bool {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if cond() {
				return true
			}
		}
		return false
	}
	if !waitFor(20*time.Second, func() bool { return strings.HasSuffix(healthz(), "ok leaves=0 supernodes=0") }) {
		status, _ := in("systemctl", "status", "--no-pager", "-n", "30", "parley-seed")
		t.Fatalf("the seed service does not answer /healthz after boot:\n%s", status)
	}
	pid, _ := in("systemctl", "show", "-p", "MainPID", "--value", "parley-seed")
	uid, _ := in("awk", "/^Uid:/ {print $2}", "/proc/"+pid+"/status")
	if uid == "" || uid == "0" {
		t.Errorf("the seed runs as uid %q, want a user of its own", uid)
	}
	if _, err := in("test", "-f", "/var/lib/private/parley-seed/parley.db"); err != nil {
		t.Error("the seed keeps no state in its StateDirectory, /var/lib/private/parley-seed")
	}
	// A crash: systemd starts it again (RestartSec=5s).
	in("systemctl", "kill", "-s", "SIGKILL", "parley-seed")
	if !waitFor(20*time.Second, func() bool {
		n, _ := in("systemctl", "show", "-p", "NRestarts", "--value", "parley-seed")
		return n == "1" && strings.HasSuffix(healthz(), "ok leaves=0 supernodes=0")
	}) {
		status, _ := in("systemctl", "status", "--no-pager", "-n", "30", "parley-seed")
		t.Errorf("the seed was not restarted after SIGKILL:\n%s", status)
	}
	// A stop: SIGTERM, a clean exit.
	if _, err := in("systemctl", "stop", "parley-seed"); err != nil {
		t.Errorf("systemctl stop parley-seed: %v", err)
	}
	if r, _ := in("systemctl", "show", "-p", "Result", "--value", "parley-seed"); r != "success" {
		t.Errorf("after systemctl stop the service's result is %q, want success", r)
	}
}

// childOf returns the first process whose parent is pid, or 0.
func childOf(pid int) int {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			return child
		}
	}
	return 0
}

// windowOpens starts an X server (Xvfb) in chroot and the installed parley
// in it, and waits for its window: the .deb's dependencies must include
// what GLFW loads at run time (X extensions, GL), which --version does not
// touch.
func windowOpens(t *testing.T, chroot string) {
	t.Helper()
	// What GLFW loads with dlopen, which ldd and --version do not see; the
	// .deb's Depends must have brought them (before Xvfb brings more).
	for _, lib := range []string{"libXcursor.so.1", "libXrandr.so.2", "libXinerama.so.1", "libXi.so.6", "libXxf86vm.so.1", "libGL.so.1"} {
		if _, err := os.Stat(filepath.Join(chroot, "usr/lib/x86_64-linux-gnu", lib)); err != nil {
			t.Errorf("%s, which GLFW loads at run time, is not installed with parley: %v", lib, err)
		}
	}
	inRoot(t, chroot, 5*time.Minute, "apt-get", "install", "-y", "-qq", "-o", "Dpkg::Use-Pty=0", "--no-install-recommends", "xvfb", "x11-utils")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// -displayfd: Xvfb picks a free display (its abstract socket is shared
	// with the host's) and writes its number to fd 3.
	xvfb := exec.Command("chroot", chroot, "env", "-i", "PATH=/usr/bin:/bin", "Xvfb", "-displayfd", "3",
		"-screen", "0", "1280x800x24", "-nolisten", "tcp")
	xvfb.ExtraFiles = []*os.File{w}
	if err := xvfb.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer func() { xvfb.Process.Kill(); xvfb.Wait() }()
	r.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(r).ReadString('\n')
	r.Close()
	display := ":" + strings.TrimSpace(line)
	if err != nil || display == ":" {
		t.Fatalf("Xvfb in the Debian root did not start: %v", err)
	}
	env := []string{chroot, "env", "-i", "PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8", "DISPLAY=" + display}
	var out bytes.Buffer
	app := exec.Command("chroot", append(env, "parley")...)
	app.Stdout, app.Stderr = &out, &out
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { app.Process.Kill(); app.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		tree, _ := exec.Command("chroot", append(env, "xwininfo", "-root", "-tree")...).Output()
		if m := regexp.MustCompile(`"Parley": \(.*\)\s+(\d+)x(\d+)`).FindSubmatch(tree); m != nil {
			t.Logf("the installed parley opened its window (%sx%s) on Xvfb", m[1], m[2])
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the installed parley opened no window in 30 s:\n%s", tail(out.String(), 3000))
		}
	}
}

// profilesPerUser has two users of the Debian root make a profile with the
// installed parley: each lands in that user's data directory
// (~/.local/share/parley), readable by that user only, with an identity of
// its own; nothing is written beside the binary.
func profilesPerUser(t *testing.T, chroot string) {
	t.Helper()
	ids := map[string]string{}
	for _, user := range []string{"alice", "bob"} {
		inRoot(t, chroot, time.Minute, "useradd", "--create-home", user)
		uid := strings.TrimSpace(inRoot(t, chroot, time.Minute, "id", "-u", user))
		gid := strings.TrimSpace(inRoot(t, chroot, time.Minute, "id", "-g", user))
		// The seeds refuse at once: init makes the profile offline.
		out, err := exec.Command("chroot", "--userspec="+uid+":"+gid, chroot, "env", "-i", "PATH=/usr/bin:/bin",
			"HOME=/home/"+user, "parley", "--seeds", "127.0.0.1:1", "init", "--username", user+"1").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: parley init: %v\n%s", user, err, out)
		}
		dir := "/home/" + user + "/.local/share/parley"
		if !strings.Contains(string(out), "profile:     "+dir+"\n") {
			t.Errorf("%s's profile is not in %s:\n%s", user, dir, out)
		}
		m := regexp.MustCompile(`node id:\s+([0-9a-f]+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("%s: no node id in\n%s", user, out)
		}
		ids[user] = string(m[1])
		fi, err := os.Stat(filepath.Join(chroot, dir))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if strconv.Itoa(int(st.Uid)) != uid || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s is owned by uid %d with mode %v; want %s's alone (0700)", dir, st.Uid, fi.Mode().Perm(), user)
		}
		if _, err := os.Stat(filepath.Join(chroot, dir, "parley.db")); err != nil {
			t.Errorf("%s: no parley.db in %s: %v", user, dir, err)
		}
	}
	if ids["alice"] == ids["bob"] {
		t.Error("two users share one identity")
	}
	if m, _ := filepath.Glob(filepath.Join(chroot, "usr/bin/parley*.db")); len(m) > 0 {
		t.Errorf("a profile beside the binary: %v", m)
	}
}
