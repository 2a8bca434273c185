// Package gen draws Parley's tray icons and synthesises its sounds. The
// files in assets/ are its output (go generate ./assets runs
// assets/internal/genassets); assets' tests run it again and compare, so
// the committed files cannot drift from this source.
//
// Everything here is deterministic: shapes are anti-aliased by counting
// supersamples, colours are mixed in integers, and sounds are built from
// math.Sin with explicit conversions that keep the compiler from fusing
// multiply-adds differently on different architectures.
package gen

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"math"
)

// TraySize is the tray icons' width and height in pixels.
const TraySize = 64

// Status is a tray badge.
type Status int

// Tray badges.
const (
	NoStatus Status = iota
	Online
	Away
	Invisible
	Offline
)

// File is one generated asset.
type File struct {
	Name string
	Data []byte
}

// Files returns every generated asset, in a fixed order.
func Files() []File {
	return []File{
		{"tray.png", encodePNG(Tray(NoStatus))},
		{"tray-online.png", encodePNG(Tray(Online))},
		{"tray-away.png", encodePNG(Tray(Away))},
		{"tray-invisible.png", encodePNG(Tray(Invisible))},
		{"tray-offline.png", encodePNG(Tray(Offline))},
		{"ringtone.wav", WAV(Ringtone())},
		{"message.wav", WAV(MessageSound())},
	}
}

// Colours, taken from icon.png: the rounded square's gradient runs from
// teal at the top to blue at the bottom.
var (
	teal     = color.NRGBA{0x17, 0x8a, 0xa0, 0xff}
	blue     = color.NRGBA{0x23, 0x5f, 0x94, 0xff}
	white    = color.NRGBA{0xff, 0xff, 0xff, 0xff}
	green    = color.NRGBA{0x2e, 0xb8, 0x4f, 0xff}
	amber    = color.NRGBA{0xf5, 0xa6, 0x23, 0xff}
	grey     = color.NRGBA{0x8e, 0x95, 0x9c, 0xff}
	darkGrey = color.NRGBA{0x5f, 0x66, 0x6d, 0xff}
)

// ss is the supersampling factor per axis: coverage is counted on an
// ss×ss grid inside each pixel.
const ss = 8

// shape reports whether the point (x, y), in pixels, is inside.
type shape func(x, y float64) bool

// coverage returns how many of a pixel's ss*ss samples fall inside s.
func coverage(px, py int, s shape) int {
	n := 0
	for j := 0; j < ss; j++ {
		for i := 0; i < ss; i++ {
			x := float64(px) + (float64(i)+0.5)/ss
			y := float64(py) + (float64(j)+0.5)/ss
			if s(x, y) {
				n++
			}
		}
	}
	return n
}

// roundRect is the rectangle [x0,x1]×[y0,y1] with corners of radius r.
func roundRect(x0, y0, x1, y1, r float64) shape {
	return func(x, y float64) bool {
		if x < x0 || x > x1 || y < y0 || y > y1 {
			return false
		}
		cx := math.Max(x0+r, math.Min(x, x1-r))
		cy := math.Max(y0+r, math.Min(y, y1-r))
		dx, dy := float64(x-cx), float64(y-cy)
		return float64(dx*dx)+float64(dy*dy) <= r*r
	}
}

// circle is the disc of radius r around (cx, cy).
func circle(cx, cy, r float64) shape {
	return func(x, y float64) bool {
		dx, dy := float64(x-cx), float64(y-cy)
		return float64(dx*dx)+float64(dy*dy) <= r*r
	}
}

// triangle is the triangle a, b, c (in any winding).
func triangle(ax, ay, bx, by, cx, cy float64) shape {
	edge := func(x0, y0, x1, y1, x, y float64) float64 {
		return float64(float64(x1-x0)*float64(y-y0)) - float64(float64(y1-y0)*float64(x-x0))
	}
	return func(x, y float64) bool {
		e0, e1, e2 := edge(ax, ay, bx, by, x, y), edge(bx, by, cx, cy, x, y), edge(cx, cy, ax, ay, x, y)
		return (e0 >= 0 && e1 >= 0 && e2 >= 0) || (e0 <= 0 && e1 <= 0 && e2 <= 0)
	}
}

func union(ss ...shape) shape {
	return func(x, y float64) bool {
		for _, s := range ss {
			if s(x, y) {
				return true
			}
		}
		return false
	}
}

func minus(a, b shape) shape {
	return func(x, y float64) bool { return a(x, y) && !b(x, y) }
}

// over composites the colour c at coverage n (of ss*ss) over dst, in
// non-premultiplied integers.
func over(dst color.NRGBA, c color.NRGBA, n int) color.NRGBA {
	if n == 0 {
		return dst
	}
	sa := int(c.A) * n / (ss * ss) // 0..255
	da := int(dst.A)
	oa := sa + da*(255-sa)/255
	if oa == 0 {
		return color.NRGBA{}
	}
	mix := func(s, d uint8) uint8 {
		return uint8((int(s)*sa + int(d)*da*(255-sa)/255 + oa/2) / oa)
	}
	return color.NRGBA{mix(c.R, dst.R), mix(c.G, dst.G), mix(c.B, dst.B), uint8(oa)}
}

// gradient returns the background colour at row y: teal to blue.
func gradient(y int) color.NRGBA {
	lerp := func(a, b uint8) uint8 {
		return uint8((int(a)*(TraySize-1-y) + int(b)*y + (TraySize-1)/2) / (TraySize - 1))
	}
	return color.NRGBA{lerp(teal.R, blue.R), lerp(teal.G, blue.G), lerp(teal.B, blue.B), 0xff}
}

// grey converts c to its luminance, lightened a little so that an offline
// icon reads as dimmed rather than black.
func greyOf(c color.NRGBA) color.NRGBA {
	l := (299*int(c.R) + 587*int(c.G) + 114*int(c.B)) / 1000
	l = 80 + l*(255-80)/255
	return color.NRGBA{uint8(l), uint8(l), uint8(l), c.A}
}

// Tray draws the tray icon: the application icon simplified for 16 to
// 24 px (a rounded square and a bold speech bubble without the dots), with
// a status dot in the bottom-right corner for any status but NoStatus.
// The dot is cut out of the icon with a transparent ring so that it reads
// on light and dark panels alike. Offline dims the whole icon to grey;
// Invisible is a hollow grey ring, as messengers usually show it.
func Tray(st Status) *image.NRGBA {
	const n = TraySize
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	bg := roundRect(1, 1, n-1, n-1, 13)
	bubble := union(
		roundRect(12, 14, 52, 42, 10),
		triangle(19, 38, 31, 40.5, 16, 53),
	)
	var dot, ring, hole shape
	var dotColour color.NRGBA
	if st != NoStatus {
		const cx, cy, r = 50, 50, 11.5
		dot = circle(cx, cy, r)
		ring = circle(cx, cy, r+3)
		switch st {
		case Online:
			dotColour = green
		case Away:
			dotColour = amber
		case Invisible:
			dotColour = grey
			hole = circle(cx, cy, r-4.5)
		case Offline:
			dotColour = darkGrey
		}
	}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			body := bg
			if ring != nil {
				body = minus(bg, ring)
			}
			c := over(color.NRGBA{}, gradient(y), coverage(x, y, body))
			c = over(c, white, coverage(x, y, func(px, py float64) bool { return body(px, py) && bubble(px, py) }))
			if st == Offline {
				c = greyOf(c)
			}
			if dot != nil {
				d := dot
				if hole != nil {
					c = over(c, white, coverage(x, y, hole))
					d = minus(dot, hole)
				}
				c = over(c, dotColour, coverage(x, y, d))
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(img image.Image) []byte {
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&b, img); err != nil {
		panic(err) // cannot happen writing to memory
	}
	return b.Bytes()
}

// SampleRate is the sounds' sample rate in Hz (mono, 16-bit).
const SampleRate = 48000

// note is a soft bell: a sine with a little second and third harmonic,
// a 6 ms attack and an exponential decay, faded to silence over its last
// 30 ms so that it ends at exactly zero.
type note struct {
	at, length float64 // seconds
	freq       float64 // Hz
	decay      float64 // time constant, seconds
	gain       float64
}

// render mixes notes into a buffer of d seconds and quantises it to 16 bits.
func render(d float64, notes []note) []int16 {
	n := int(math.Round(d * SampleRate))
	mix := make([]float64, n)
	for _, nt := range notes {
		start := int(math.Round(nt.at * SampleRate))
		length := int(math.Round(nt.length * SampleRate))
		attack := int(0.006 * SampleRate)
		fade := int(0.030 * SampleRate)
		// The decay is applied as a per-sample factor: multiplications
		// only, no math.Exp (which has per-architecture assembly).
		k := 1 - 1/(nt.decay*SampleRate)
		env := 1.0
		for i := 0; i < length && start+i < n; i++ {
			t := float64(i) / SampleRate
			w := float64(2 * math.Pi * nt.freq * t)
			v := math.Sin(w) + float64(0.25*math.Sin(2*w)) + float64(0.08*math.Sin(3*w))
			g := env * nt.gain
			if i < attack {
				g = float64(g * float64(i) / float64(attack))
			}
			if rest := length - i; rest < fade {
				g = float64(g * float64(rest) / float64(fade))
			}
			mix[start+i] += float64(v * g)
			env = float64(env * k)
		}
	}
	pcm := make([]int16, n)
	for i, v := range mix {
		pcm[i] = int16(math.Round(math.Max(-32767, math.Min(32767, float64(v*32767)))))
	}
	return pcm
}

// Ringtone is a two-tone ring, A5 then E5 twice (a rising-falling
// "ding-dong, ding-dong"), then a pause: 2.4 s in all, 120 frames of
// 20 ms, starting and ending in silence so that it loops without a click.
func Ringtone() []int16 {
	const hi, lo = 880.0, 659.25
	var notes []note
	for _, at := range []float64{0, 0.6} {
		notes = append(notes,
			note{at: at, length: 0.55, freq: hi, decay: 0.22, gain: 0.32},
			note{at: at + 0.2, length: 0.55, freq: lo, decay: 0.25, gain: 0.34},
		)
	}
	return render(2.4, notes)
}

// MessageSound is a short rising chime, C6 then G6: 0.36 s.
func MessageSound() []int16 {
	return render(0.36, []note{
		{at: 0, length: 0.25, freq: 1046.5, decay: 0.08, gain: 0.25},
		{at: 0.09, length: 0.27, freq: 1568.0, decay: 0.09, gain: 0.25},
	})
}

// WAV encodes pcm as a canonical 44-byte-header WAV file: PCM, 48 kHz,
// mono, 16-bit little-endian.
func WAV(pcm []int16) []byte {
	const channels, bits = 1, 16
	data := len(pcm) * 2
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	binary.Write(&b, le, uint32(36+data))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, le, uint32(16))
	binary.Write(&b, le, uint16(1)) // PCM
	binary.Write(&b, le, uint16(channels))
	binary.Write(&b, le, uint32(SampleRate))
	binary.Write(&b, le, uint32(SampleRate*channels*bits/8))
	binary.Write(&b, le, uint16(channels*bits/8))
	binary.Write(&b, le, uint16(bits))
	b.WriteString("data")
	binary.Write(&b, le, uint32(data))
	binary.Write(&b, le, pcm)
	return b.Bytes()
}
