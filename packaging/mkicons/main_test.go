package main

import (
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestWritesEverySize(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 100, 100))
	for y := 0; y < 100; y++ {
		for x := 0; x < 100; x++ {
			src.Set(x, y, color.NRGBA{R: 200, G: 40, B: 90, A: 255})
		}
	}
	in := filepath.Join(t.TempDir(), "icon.png")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, src); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := t.TempDir()
	if err := run([]string{"-src", in, "-name", "parley", "-out", out}, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, n := range Sizes {
		p := filepath.Join(out, strconv.Itoa(n)+"x"+strconv.Itoa(n), "apps", "parley.png")
		f, err := os.Open(p)
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if b := img.Bounds(); b.Dx() != n || b.Dy() != n {
			t.Errorf("size %d: got %dx%d", n, b.Dx(), b.Dy())
		}
		if r, g, b, a := img.At(n/2, n/2).RGBA(); r>>8 != 200 || g>>8 != 40 || b>>8 != 90 || a>>8 != 255 {
			t.Errorf("size %d: centre pixel %d,%d,%d,%d, want the source colour", n, r>>8, g>>8, b>>8, a>>8)
		}
	}
}

func TestTheProjectIconIsSquare512(t *testing.T) {
	f, err := os.Open("../../assets/icon.png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != 512 || cfg.Height != 512 {
		t.Errorf("assets/icon.png is %dx%d; the largest hicolor size needs 512x512", cfg.Width, cfg.Height)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	notPNG := filepath.Join(dir, "x.png")
	os.WriteFile(notPNG, []byte("GIF89a not a png"), 0o644)
	if err := run([]string{"-src", notPNG, "-out", dir}, io.Discard); err == nil {
		t.Error("a file that is not a PNG was accepted")
	}
	if err := run([]string{"-src", filepath.Join(dir, "missing.png"), "-out", dir}, io.Discard); err == nil {
		t.Error("a missing file was accepted")
	}
	if err := run([]string{"-src", notPNG}, io.Discard); err == nil {
		t.Error("no -out was accepted")
	}
	if err := writeAll(image.NewNRGBA(image.Rect(0, 0, 30, 20)), "p", dir); !errors.Is(err, errNotSquare) {
		t.Errorf("a 30x20 icon: got %v, want errNotSquare", err)
	}
	if err := writeAll(image.NewNRGBA(image.Rect(0, 0, 0, 0)), "p", dir); !errors.Is(err, errNotSquare) {
		t.Errorf("an empty icon: got %v, want errNotSquare", err)
	}
}
