package e2e

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleynet/parley/app/profile"
	"github.com/parleynet/parley/internal/testutil"
	"github.com/parleynet/parley/overlay/identity"
	"github.com/parleynet/parley/store"
)

// The desktop app in a real window: an X server (Xvfb) per test, the real
// parley binary in it, screenshots taken with xwd.

// xserver starts Xvfb on a free display and returns its DISPLAY value.
func xserver(t testing.TB) string {
	t.Helper()
	for _, tool := range []string{"Xvfb", "xwd", "xwininfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (apt-get install xvfb x11-apps x11-utils; scripts/test installs them as root)", tool)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(r).ReadString('\n')
	r.Close()
	if err != nil {
		t.Fatalf("Xvfb did not say its display: %v", err)
	}
	return ":" + strings.TrimSpace(line)
}

// desktop runs the desktop app on profile dir in display.
func desktop(t testing.TB, display, dir, seeds string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"--profile", dir, "--seeds=" + seeds}, extra...)
	return startEnv(t, []string{"DISPLAY=" + display, "LANG=en_US.UTF-8"}, bin.parley, args...)
}

var readyRE = regexp.MustCompile(`main window ready.*since_start=(\S+)`)

// waitReady waits for the app to say its main window shows the contacts
// and returns how long after its start that was.
func waitReady(t testing.TB, p *proc, timeout time.Duration) time.Duration {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := readyRE.FindStringSubmatch(p.out.String()); m != nil {
			d, err := time.ParseDuration(m[1])
			if err != nil {
				t.Fatalf("since_start %q: %v", m[1], err)
			}
			return d
		}
		select {
		case <-p.done:
			t.Fatalf("the desktop app exited: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the main window")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// window returns the geometry of the top-level window whose title starts
// with title.
func window(t testing.TB, display, title string) (image.Rectangle, bool) {
	t.Helper()
	cmd := exec.Command("xwininfo", "-root", "-tree")
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xwininfo: %v", err)
	}
	re := regexp.MustCompile(`"` + regexp.QuoteMeta(title) + `[^"]*": \(.*\)\s+(\d+)x(\d+)\+(-?\d+)\+(-?\d+)\s+\+(-?\d+)\+(-?\d+)`)
	m := re.FindStringSubmatch(string(out))
	if m == nil {
		return image.Rectangle{}, false
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	x, y := n(m[5]), n(m[6]) // absolute position
	return image.Rect(x, y, x+n(m[1]), y+n(m[2])), true
}

// screenshot takes the whole screen with xwd and decodes it.
func screenshot(t testing.TB, display string) image.Image {
	t.Helper()
	cmd := exec.Command("xwd", "-root", "-silent")
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xwd: %v", err)
	}
	img, err := decodeXWD(out)
	if err != nil {
		t.Fatalf("xwd output: %v", err)
	}
	return img
}

// decodeXWD decodes a TrueColor ZPixmap X window dump of 24 or 32 bits
// per pixel, which is what xwd makes of an Xvfb screen.
func decodeXWD(b []byte) (image.Image, error) {
	if len(b) < 100 {
		return nil, fmt.Errorf("xwd: %d bytes", len(b))
	}
	h := func(i int) uint32 { return binary.BigEndian.Uint32(b[4*i:]) }
	headerSize, format, width, height := h(0), h(2), int(h(4)), int(h(5))
	byteOrder, bpp, bpl := h(7), int(h(11)), int(h(12))
	rmask, gmask, bmask := h(14), h(15), h(16)
	ncolors := int(h(19))
	if format != 2 || (bpp != 32 && bpp != 24) {
		return nil, fmt.Errorf("xwd: format %d, %d bits per pixel: not handled", format, bpp)
	}
	off := int(headerSize) + 12*ncolors
	if width <= 0 || height <= 0 || off+height*bpl > len(b) {
		return nil, fmt.Errorf("xwd: %dx%d does not fit %d bytes", width, height, len(b))
	}
	shift := func(mask uint32) uint {
		s := uint(0)
		for mask != 0 && mask&1 == 0 {
			mask >>= 1
			s++
		}
		return s
	}
	rs, gs, bs := shift(rmask), shift(gmask), shift(bmask)
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	for y := range height {
		row := b[off+y*bpl:]
		for x := range width {
			var p uint32
			px := row[x*bpp/8:]
			if bpp == 32 {
				if byteOrder == 0 {
					p = binary.LittleEndian.Uint32(px)
				} else {
					p = binary.BigEndian.Uint32(px)
				}
			} else if byteOrder == 0 {
				p = uint32(px[0]) | uint32(px[1])<<8 | uint32(px[2])<<16
			} else {
				p = uint32(px[2]) | uint32(px[1])<<8 | uint32(px[0])<<16
			}
			img.SetNRGBA(x, y, color.NRGBA{R: uint8((p & rmask) >> rs), G: uint8((p & gmask) >> gs), B: uint8((p & bmask) >> bs), A: 0xff})
		}
	}
	return img, nil
}

// rendered describes what a screen region holds: how many colours, and
// which share of it differs from its commonest colour.
func rendered(img image.Image, r image.Rectangle) (colours int, ink float64) {
	counts := map[color.NRGBA]int{}
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			counts[color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)]++
		}
	}
	most := 0
	for _, n := range counts {
		most = max(most, n)
	}
	total := r.Dx() * r.Dy()
	if total == 0 {
		return 0, 0
	}
	return len(counts), float64(total-most) / float64(total)
}

// savePNG keeps a screenshot where PARLEY_SCREENSHOTS says, if it does.
func savePNG(t testing.TB, img image.Image, name string) {
	dir := os.Getenv("PARLEY_SCREENSHOTS")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	defer f.Close()
	png.Encode(f, img)
}

// rssKiB is a process's resident memory.
func rssKiB(t testing.TB, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("memory of %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return 0
}

// TestDesktopWindowUnderXvfb runs the desktop app in a real window, checks
// on a screenshot that its main window rendered, calls the seed's echo
// account through it and checks that the in-call view shows.
func TestDesktopWindowUnderXvfb(t *testing.T) {
	display := xserver(t)
	build(t)
	seedAddr := freeAddr(t)
	start(t, bin.seed, "--listen", seedAddr, "--data", t.TempDir(), "--http", "", "--echo-username", "echo123")
	alice := initProfile(t, "alice", seedAddr)
	p := desktop(t, display, alice, seedAddr, "--play", "tone:440", "--record", filepath.Join(t.TempDir(), "heard.wav"))
	ready := waitReady(t, p, 30*time.Second)
	t.Logf("main window ready %v after start", ready)

	var win image.Rectangle
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, ok := window(t, display, "Parley")
		if ok && r.Dx() >= 400 {
			win = r
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no Parley window on the screen")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the first frames
	shot := screenshot(t, display)
	savePNG(t, shot, "desktop-main.png")
	colours, ink := rendered(shot, win)
	t.Logf("window %v: %d colours, %.1f%% drawn on its background", win, colours, ink*100)
	if colours < 8 || ink < 0.01 || ink > 0.7 {
		t.Fatalf("the main window did not render: %d colours, %.1f%% not background", colours, ink*100)
	}
	outside, _ := rendered(shot, image.Rect(win.Max.X+10, win.Max.Y+10, shot.Bounds().Max.X, shot.Bounds().Max.Y))
	if outside > 2 {
		t.Logf("note: %d colours outside the window", outside)
	}
	atRest := rssKiB(t, p.cmd.Process.Pid)

	// The window's peer answers the CLI: add the echo account and call it.
	cli := func(args ...string) (string, int) {
		return runCmd(t, bin.parley, append([]string{"--profile", alice}, args...)...)
	}
	until(t, "the echo account's claim", 30*time.Second, func() bool { _, code := cli("lookup", "echo123"); return code == 0 })
	if out, code := cli("add", "echo123"); code != 0 {
		t.Fatalf("add: %s", out)
	}
	until(t, "echo accepted", 30*time.Second, func() bool { out, _ := cli("contacts"); return strings.Contains(out, "accepted") })
	time.Sleep(500 * time.Millisecond)
	before := screenshot(t, display)
	type result struct {
		out  string
		code int
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin.parley, "--profile", alice, "call", "echo123", "--duration", "6s").CombinedOutput()
		code := 0
		if err != nil {
			code = 1
		}
		done <- result{string(out), code}
	}()
	time.Sleep(3 * time.Second)
	inCall := rssKiB(t, p.cmd.Process.Pid)
	shot2 := screenshot(t, display)
	savePNG(t, shot2, "desktop-call.png")
	r := <-done
	if r.code != 0 || !strings.Contains(r.out, "answered") {
		t.Fatalf("call through the desktop app: %s", r.out)
	}
	time.Sleep(time.Second)
	after := screenshot(t, display)
	// The in-call view is there during the call and only then: its red
	// Hang up button is the window's only large patch of red.
	red := func(img image.Image) int {
		n := 0
		for y := win.Min.Y; y < win.Max.Y; y++ {
			for x := win.Min.X; x < win.Max.X; x++ {
				if c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA); c.R > 200 && c.G < 110 && c.B < 110 {
					n++
				}
			}
		}
		return n
	}
	t.Logf("memory: %d MiB at rest, %d MiB in a call; red pixels before, during and after the call: %d, %d, %d",
		atRest/1024, inCall/1024, red(before), red(shot2), red(after))
	if red(shot2) < 1000 || red(before) > 100 || red(after) > 100 {
		t.Fatalf("no in-call view (Hang up button) during the call only: red pixels %d before, %d during, %d after", red(before), red(shot2), red(after))
	}
}

// until polls cond until it holds, for timeout at most.
func until(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	testutil.EventuallyEvery(t, timeout, 200*time.Millisecond, what, cond)
}

// bigProfile makes a profile with contacts accepted contacts and messages
// messages spread over them (half with the first contact), as a user of
// some years would have.
func bigProfile(t testing.TB, seeds string, contacts, messages int) string {
	t.Helper()
	dir := initProfile(t, "heavy", seeds)
	ctx := context.Background()
	prof, err := profile.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer prof.Close()
	self := prof.Identity.NodeID()
	now := time.Now()
	ids := make([]int64, contacts)
	for i := range contacts {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		id, err := prof.DB.AddContact(ctx, store.Contact{
			NodeID: identity.NodeIDOf(pub), PublicKey: pub, Username: fmt.Sprintf("friend%04d", i),
			State: store.ContactAccepted, Created: now, Updated: now,
		})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	for i := range messages {
		c := ids[0]
		if i%2 == 1 {
			c = ids[i%len(ids)]
		}
		var msgID [16]byte
		rand.Read(msgID[:])
		m := store.Message{ContactID: c, MsgID: msgID, Author: self, Direction: store.Outgoing,
			Body: fmt.Sprintf("message %d: the quick brown fox jumps over the lazy dog", i),
			Sent: now.Add(time.Duration(i-messages) * time.Minute), Received: now, State: store.MessageRead}
		if i%3 == 0 {
			m.Direction, m.State = store.Incoming, store.MessageReceived
			m.Author = [32]byte{1}
		}
		if _, _, err := prof.DB.AddMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// BenchmarkDesktopStart times the desktop app from exec to its main window
// showing the contacts, on a profile of 500 contacts and 10,000 messages,
// and reports its memory once started.
//
//	go test -run '^$' -bench DesktopStart -benchtime 5x ./internal/e2e/
func BenchmarkDesktopStart(b *testing.B) {
	display := xserver(b)
	build(b)
	seedAddr := freeAddr(b)
	start(b, bin.seed, "--listen", seedAddr, "--data", b.TempDir(), "--http", "")
	dir := bigProfile(b, seedAddr, 500, 10000)
	var total time.Duration
	var rss int
	b.ResetTimer()
	for range b.N {
		p := desktop(b, display, dir, seedAddr)
		d := waitReady(b, p, time.Minute)
		total += d
		time.Sleep(2 * time.Second)
		rss = max(rss, rssKiB(b, p.cmd.Process.Pid))
		p.cmd.Process.Kill()
		<-p.done
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/start")
	b.ReportMetric(float64(rss)/1024, "MiB-rss")
}
