package audio

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	goaudio "github.com/go-audio/audio"
	"github.com/go-audio/wav"
)

// TestWAVRoundTrip: what a WAVSink writes, a WAVSource reads back sample
// for sample, then io.EOF; with Loop it starts over instead.
func TestWAVRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rt.wav")
	sink, err := CreateWAVSink(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tone := NewToneSource(1000, 0.4)
	var want []int16
	pcm := make([]int16, FrameSamples)
	for range 75 {
		tone.ReadFrame(pcm)
		for i := range pcm {
			pcm[i] += int16(rng.IntN(2001) - 1000)
		}
		pcm[0], pcm[1] = math.MaxInt16, math.MinInt16 // the extremes survive too
		want = append(want, pcm...)
		if err := sink.WriteFrame(pcm); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := sink.WriteFrame(pcm); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteFrame after Close: %v, want ErrClosed", err)
	}
	if fi, _ := os.Stat(path); fi.Size() != wavHeaderSize+int64(len(want))*2 {
		t.Errorf("file is %d bytes, want %d", fi.Size(), wavHeaderSize+len(want)*2)
	}

	got := readAll(t, path, WAVOptions{})
	if !slicesEqual(got, want) {
		t.Fatalf("read back %d samples, differing from the %d written", len(got), len(want))
	}

	// Looping: past the end comes the start again.
	src, err := OpenWAVSource(path, WAVOptions{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for i := 0; i < 75+2; i++ {
		if err := src.ReadFrame(pcm); err != nil {
			t.Fatalf("looping source frame %d: %v", i, err)
		}
	}
	if !slicesEqual(pcm, want[FrameSamples:2*FrameSamples]) {
		t.Error("looped frame 77 is not frame 1")
	}

	// And the header is what a standard reader expects.
	f, _ := os.Open(path)
	defer f.Close()
	d := wav.NewDecoder(f)
	if !d.IsValidFile() || d.SampleRate != SampleRate || d.NumChans != 1 || d.BitDepth != 16 {
		t.Errorf("go-audio sees rate %d, %d channels, %d bits", d.SampleRate, d.NumChans, d.BitDepth)
	}
}

// TestWAVSinkCrash: a WAVSink that is never closed (its process died)
// leaves a file whose header covers everything up to the last
// once-a-second update, and WAVSource reads it.
func TestWAVSinkCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.wav")
	sink, err := CreateWAVSink(path)
	if err != nil {
		t.Fatal(err)
	}
	tone := NewToneSource(500, 0.5)
	pcm := make([]int16, FrameSamples)
	var want []int16
	for range 120 {
		tone.ReadFrame(pcm)
		want = append(want, pcm...)
		if err := sink.WriteFrame(pcm); err != nil {
			t.Fatal(err)
		}
	}
	sink.f.Close() // the crash: no Close, no header fix-up
	got := readAll(t, path, WAVOptions{})
	if len(got) < 100*FrameSamples {
		t.Fatalf("read %d frames of a crashed recording, want ≥ 100 (the last header update)", len(got)/FrameSamples)
	}
	if !slicesEqual(got, want[:len(got)]) {
		t.Fatal("crashed recording reads back different samples")
	}

	// A crash before the first update leaves data size 0, which
	// WAVSource reads to the end of the file.
	path2 := filepath.Join(t.TempDir(), "early.wav")
	sink2, err := CreateWAVSink(path2)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		sink2.WriteFrame(pcm)
	}
	sink2.f.Close()
	if got := readAll(t, path2, WAVOptions{}); len(got) != 10*FrameSamples {
		t.Errorf("read %d samples of a recording that crashed at once, want %d", len(got), 10*FrameSamples)
	}
}

// TestWAVConvert: stereo, other rates and other sample sizes come out as
// 48 kHz mono: channels averaged, the tone at the same pitch and level.
func TestWAVConvert(t *testing.T) {
	for _, tc := range []struct {
		rate, channels, bits int
		minSNR               float64
	}{
		{44100, 2, 16, 60},
		{22050, 1, 24, 60},
		{96000, 1, 32, 60},
		{8000, 1, 8, 30}, // 8-bit: about 40 dB of quantization noise
		{48000, 2, 16, 60},
	} {
		name := itoa(tc.rate) + "Hz/" + itoa(tc.channels) + "ch/" + itoa(tc.bits) + "bit"
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "in.wav")
			// 1.5 s of 440 Hz: left at 0.6 of full scale, right at 0.2
			// (so the mono mix is 0.4).
			n := tc.rate * 3 / 2
			buf := &goaudio.IntBuffer{Format: &goaudio.Format{NumChannels: tc.channels, SampleRate: tc.rate}, SourceBitDepth: tc.bits}
			full := float64(int64(1)<<(tc.bits-1) - 1)
			for i := 0; i < n; i++ {
				s := math.Sin(2 * math.Pi * 440 * float64(i) / float64(tc.rate))
				amps := []float64{0.6, 0.2}
				if tc.channels == 1 {
					amps = []float64{0.4}
				}
				for _, a := range amps {
					v := int(math.Round(a * s * full))
					if tc.bits == 8 {
						v += 128 // 8-bit WAV is unsigned
					}
					buf.Data = append(buf.Data, v)
				}
			}
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			enc := wav.NewEncoder(f, tc.rate, tc.bits, tc.channels, 1)
			if err := enc.Write(buf); err != nil {
				t.Fatal(err)
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			f.Close()

			src, err := OpenWAVSource(path, WAVOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r, c, b := src.Format(); r != tc.rate || c != tc.channels || b != tc.bits {
				t.Errorf("Format() = %d, %d, %d", r, c, b)
			}
			src.Close()
			got := readAll(t, path, WAVOptions{})
			wantLen := SampleRate * 3 / 2
			if len(got) < wantLen || len(got) > wantLen+FrameSamples {
				t.Errorf("got %d samples at 48 kHz, want %d (+ padding to a frame)", len(got), wantLen)
			}
			mid := got[SampleRate/4 : SampleRate*5/4] // away from the edges
			sig, res := sineFit(mid, 440)
			amp := math.Sqrt(2*sig/float64(len(mid))) / math.MaxInt16
			s := 10 * math.Log10(sig/res)
			f0 := peakFreq(mid, 400, 480)
			t.Logf("%s: peak %.0f Hz, amplitude %.3f, SNR %.1f dB", name, f0, amp, s)
			if f0 < 439 || f0 > 441 {
				t.Errorf("peak at %.0f Hz, want 440", f0)
			}
			if math.Abs(amp-0.4) > 0.01 {
				t.Errorf("amplitude %.3f, want 0.4", amp)
			}
			if s < tc.minSNR {
				t.Errorf("SNR %.1f dB, want > %.0f", s, tc.minSNR)
			}
		})
	}
}

// TestWAVRejects: files that are not integer PCM WAV fail with
// ErrUnsupportedWAV.
func TestWAVRejects(t *testing.T) {
	if _, err := NewWAVSource(bytes.NewReader([]byte("this is not a wav file at all, no")), WAVOptions{}); !errors.Is(err, ErrUnsupportedWAV) {
		t.Errorf("garbage: %v", err)
	}
	// A float WAV (format tag 3).
	var b bytes.Buffer
	b.WriteString("RIFF")
	b.Write([]byte{36 + 8, 0, 0, 0})
	b.WriteString("WAVEfmt ")
	b.Write([]byte{16, 0, 0, 0, 3, 0, 1, 0, 0x80, 0xbb, 0, 0, 0, 0xee, 2, 0, 4, 0, 32, 0})
	b.WriteString("data")
	b.Write([]byte{8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	if _, err := NewWAVSource(bytes.NewReader(b.Bytes()), WAVOptions{}); !errors.Is(err, ErrUnsupportedWAV) {
		t.Errorf("float WAV: %v", err)
	}
	if _, err := OpenWAVSource(filepath.Join(t.TempDir(), "missing.wav"), WAVOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func readAll(t *testing.T, path string, opts WAVOptions) []int16 {
	t.Helper()
	src, err := OpenWAVSource(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []int16
	pcm := make([]int16, FrameSamples)
	for {
		err := src.ReadFrame(pcm)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pcm...)
	}
	// Trim the zero padding of the last frame.
	for len(out) > 0 && out[len(out)-1] == 0 {
		out = out[:len(out)-1]
	}
	return out
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
