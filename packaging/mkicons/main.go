// Command mkicons writes an application icon at every size the freedesktop
// hicolor icon theme expects, resized from one square PNG:
//
//	mkicons -src assets/icon.png -name parley -out DIR
//
// writes DIR/NxN/apps/parley.png for each of Sizes. The Linux packages
// install DIR as /usr/share/icons/hicolor.
package main

import (
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/image/draw"
)

// Sizes are the hicolor theme's fixed-size directories, in pixels.
var Sizes = []int{16, 22, 24, 32, 48, 64, 128, 256, 512}

// errNotSquare is returned for a source icon that is not square.
var errNotSquare = errors.New("mkicons: the source icon is not square")

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkicons", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := fs.String("src", "assets/icon.png", "the square source icon, PNG")
	name := fs.String("name", "parley", "the icon name (file name without .png)")
	out := fs.String("out", "", "the hicolor directory to write into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *name == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("mkicons: -out and -name are required, and no arguments")
	}
	f, err := os.Open(*src)
	if err != nil {
		return fmt.Errorf("mkicons: %w", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return fmt.Errorf("mkicons: %s: %w", *src, err)
	}
	return writeAll(img, *name, *out)
}

// writeAll writes img resized to each of Sizes under out.
func writeAll(img image.Image, name, out string) error {
	b := img.Bounds()
	if b.Dx() != b.Dy() || b.Dx() == 0 {
		return fmt.Errorf("%w: %dx%d", errNotSquare, b.Dx(), b.Dy())
	}
	for _, n := range Sizes {
		dir := filepath.Join(out, fmt.Sprintf("%dx%d", n, n), "apps")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("mkicons: %w", err)
		}
		if err := writePNG(filepath.Join(dir, name+".png"), resize(img, n)); err != nil {
			return err
		}
	}
	return nil
}

// resize scales img to n×n pixels with Catmull-Rom, which keeps small icons
// sharp; the source itself is returned when it already has that size.
func resize(img image.Image, n int) image.Image {
	if img.Bounds().Dx() == n {
		return img
	}
	dst := image.NewNRGBA(image.Rect(0, 0, n, n))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	return dst
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("mkicons: %w", err)
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("mkicons: %s: %w", path, err)
	}
	return f.Close()
}
