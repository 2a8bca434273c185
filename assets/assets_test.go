package assets_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"testing"

	"github.com/parleynet/parley/assets"
	"github.com/parleynet/parley/assets/internal/gen"
	"github.com/parleynet/parley/call/audio"
)

// embedded maps the generated files' names to what the package embeds.
var embedded = map[string][]byte{
	"tray.png":           assets.TrayPNG,
	"tray-online.png":    assets.TrayOnlinePNG,
	"tray-away.png":      assets.TrayAwayPNG,
	"tray-invisible.png": assets.TrayInvisiblePNG,
	"tray-offline.png":   assets.TrayOfflinePNG,
	"ringtone.wav":       assets.RingtoneWAV,
	"message.wav":        assets.MessageWAV,
}

func decodePNG(t *testing.T, name string, b []byte) *image.NRGBA {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	n := image.NewNRGBA(img.Bounds())
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			n.Set(x, y, img.At(x, y))
		}
	}
	return n
}

// TestGeneratorReproduces regenerates every file and compares it with the
// embedded one: sounds byte for byte, images pixel for pixel (a PNG's
// compressed bytes may change with Go's deflate, its pixels may not).
func TestGeneratorReproduces(t *testing.T) {
	files := gen.Files()
	if len(files) != len(embedded) {
		t.Fatalf("generator makes %d files, the package embeds %d", len(files), len(embedded))
	}
	for _, f := range files {
		got, ok := embedded[f.Name]
		if !ok {
			t.Errorf("generated %s is not embedded", f.Name)
			continue
		}
		switch {
		case bytes.Equal(got, f.Data):
		case bytes.HasSuffix([]byte(f.Name), []byte(".png")):
			a, b := decodePNG(t, f.Name, got), decodePNG(t, f.Name, f.Data)
			if a.Bounds() != b.Bounds() || !bytes.Equal(a.Pix, b.Pix) {
				t.Errorf("%s: the committed image differs from the generator's; run go generate ./assets", f.Name)
			} else {
				t.Logf("%s: same pixels, other PNG bytes (Go's deflate changed?)", f.Name)
			}
		default:
			t.Errorf("%s: the committed file differs from the generator's; run go generate ./assets", f.Name)
		}
	}
}

func TestIcons(t *testing.T) {
	icon := decodePNG(t, "icon.png", assets.IconPNG)
	if b := icon.Bounds(); b.Dx() != 512 || b.Dy() != 512 {
		t.Fatalf("icon.png is %v, want 512×512", b)
	}
	green := color.NRGBA{0x2e, 0xb8, 0x4f, 0xff}
	amber := color.NRGBA{0xf5, 0xa6, 0x23, 0xff}
	white := color.NRGBA{0xff, 0xff, 0xff, 0xff}
	for _, c := range []struct {
		name string
		data []byte
		dot  color.NRGBA // at the dot's centre (50, 50); zero: no dot
		grey bool        // the icon itself is grey
	}{
		{"tray.png", assets.TrayPNG, color.NRGBA{}, false},
		{"tray-online.png", assets.TrayOnlinePNG, green, false},
		{"tray-away.png", assets.TrayAwayPNG, amber, false},
		{"tray-invisible.png", assets.TrayInvisiblePNG, white, false}, // a hollow ring
		{"tray-offline.png", assets.TrayOfflinePNG, color.NRGBA{0x5f, 0x66, 0x6d, 0xff}, true},
	} {
		img := decodePNG(t, c.name, c.data)
		if b := img.Bounds(); b.Dx() != gen.TraySize || b.Dy() != gen.TraySize {
			t.Fatalf("%s is %v, want %d×%d", c.name, b, gen.TraySize, gen.TraySize)
		}
		if a := img.NRGBAAt(0, 0).A; a != 0 {
			t.Errorf("%s: corner alpha %d, want a transparent corner", c.name, a)
		}
		if got := img.NRGBAAt(32, 26); got != white {
			t.Errorf("%s: bubble pixel %v, want white", c.name, got)
		}
		bg := img.NRGBAAt(6, 32)
		if isGrey := bg.R == bg.G && bg.G == bg.B; isGrey != c.grey || bg.A != 0xff {
			t.Errorf("%s: background %v, grey %v", c.name, bg, c.grey)
		}
		dot := img.NRGBAAt(50, 50)
		if c.dot == (color.NRGBA{}) {
			if dot == green || dot == amber || dot.A != 0xff {
				t.Errorf("%s: status-less icon has %v at the dot's place", c.name, dot)
			}
		} else if dot != c.dot {
			t.Errorf("%s: dot %v, want %v", c.name, dot, c.dot)
		}
		if c.dot != (color.NRGBA{}) {
			// The ring that cuts the dot out of the icon is transparent.
			if a := img.NRGBAAt(50, 36).A; a > 0x20 {
				t.Errorf("%s: no transparent ring around the dot (alpha %d)", c.name, a)
			}
		}
		if c.name == "tray-invisible.png" {
			if got := img.NRGBAAt(50, 41); got != (color.NRGBA{0x8e, 0x95, 0x9c, 0xff}) {
				t.Errorf("%s: the ring at (50,41) is %v, want grey", c.name, got)
			}
		}
	}
}

// readWAV decodes a WAV through call/audio, as the app plays it.
func readWAV(t *testing.T, name string, b []byte) []int16 {
	t.Helper()
	src, err := audio.NewWAVSource(bytes.NewReader(b), audio.WAVOptions{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer src.Close()
	if rate, ch, bits := src.Format(); rate != 48000 || ch != 1 || bits != 16 {
		t.Fatalf("%s: %d Hz, %d channels, %d bits; want 48000 Hz mono 16-bit", name, rate, ch, bits)
	}
	var pcm []int16
	frame := make([]int16, audio.FrameSamples)
	for {
		err := src.ReadFrame(frame)
		if errors.Is(err, io.EOF) {
			return pcm
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pcm = append(pcm, frame...)
	}
}

// tone returns the amplitude (0..1 of full scale) of freq in pcm, by
// Goertzel's algorithm.
func tone(pcm []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / 48000
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range pcm {
		s1, s2 = float64(v)/32768+c*s1-s2, s1
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return 2 * math.Sqrt(math.Max(p, 0)) / float64(len(pcm))
}

func peak(pcm []int16) float64 {
	m := 0
	for _, v := range pcm {
		m = max(m, int(v), -int(v))
	}
	return float64(m) / 32768
}

func TestSounds(t *testing.T) {
	ms := func(n int) float64 { return float64(n) * 1000 / 48000 }

	ring := readWAV(t, "ringtone.wav", assets.RingtoneWAV)
	if d := ms(len(ring)); d < 2000 || d > 3000 || len(ring)%audio.FrameSamples != 0 {
		t.Errorf("ringtone lasts %.0f ms (%d samples), want 2–3 s in whole 20 ms frames", d, len(ring))
	}
	// It loops cleanly: silent at both ends, no jump at the seam.
	if ring[0] != 0 || ring[len(ring)-1] != 0 || peak(ring[len(ring)-4800:]) != 0 {
		t.Errorf("ringtone does not start and end in silence: first %d, last %d", ring[0], ring[len(ring)-1])
	}
	if p := peak(ring); p < 0.25 || p > 0.9 {
		t.Errorf("ringtone peak %.2f of full scale, want audible without clipping", p)
	}
	// Two tones: A5 in the first 150 ms, E5 in 250–400 ms.
	a, e := ring[:7200], ring[12000:19200]
	if hi, lo := tone(a, 880), tone(a, 659.25); hi < 0.1 || lo > hi/4 {
		t.Errorf("first note: 880 Hz at %.3f, 659 Hz at %.3f; want 880 Hz", hi, lo)
	}
	if hi, lo := tone(e, 880), tone(e, 659.25); lo < 0.1 || lo < hi {
		t.Errorf("second note: 880 Hz at %.3f, 659 Hz at %.3f; want 659 Hz to lead", hi, lo)
	}

	msg := readWAV(t, "message.wav", assets.MessageWAV)
	if d := ms(len(msg)); d < 100 || d >= 500 {
		t.Errorf("message sound lasts %.0f ms, want under 500 ms", d)
	}
	if msg[0] != 0 || msg[len(msg)-1] != 0 {
		t.Errorf("message sound does not start and end in silence")
	}
	if p := peak(msg); p < 0.15 || p > 0.9 {
		t.Errorf("message sound peak %.2f of full scale", p)
	}
}
