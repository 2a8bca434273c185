package device

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parleynet/parley/call/audio"
)

// noSoundCard reports whether this is a Linux machine without any sound
// card (as on CI), where every Open must fail with ErrNoDevice.
func noSoundCard() bool {
	if runtime.GOOS != "linux" {
		return false
	}
	_, err := os.Stat("/dev/snd")
	return errors.Is(err, os.ErrNotExist)
}

// The interfaces are met.
var (
	_ audio.Source = (*Capture)(nil)
	_ audio.Sink   = (*Playback)(nil)
)

// TestNoDevice: without a sound card, listing works (and finds nothing
// real) and opening fails with ErrNoDevice and a message that says what
// was tried, without a panic. With a sound card, opening works and the
// devices behave.
func TestNoDevice(t *testing.T) {
	caps, cerr := CaptureDevices()
	outs, perr := PlaybackDevices()
	t.Logf("capture devices: %v (%v); playback devices: %v (%v)", caps, cerr, outs, perr)
	for _, err := range []error{cerr, perr} {
		if err != nil && !errors.Is(err, ErrNoDevice) {
			t.Errorf("listing: %v, want nil or ErrNoDevice", err)
		}
	}

	mic, err := OpenCapture("")
	t.Logf("OpenCapture(\"\"): %v", err)
	switch {
	case err != nil:
		if !errors.Is(err, ErrNoDevice) {
			t.Errorf("OpenCapture: %v, want ErrNoDevice", err)
		}
		if !strings.Contains(err.Error(), "capture") {
			t.Errorf("OpenCapture error %q does not say it was capture", err)
		}
	case noSoundCard():
		mic.Close()
		t.Fatal("OpenCapture succeeded on a machine without a sound card")
	default:
		pcm := make([]int16, audio.FrameSamples)
		if err := mic.ReadFrame(pcm); err != nil {
			t.Errorf("ReadFrame from the default microphone: %v", err)
		}
		mic.Close()
		if err := mic.ReadFrame(pcm); !errors.Is(err, audio.ErrClosed) {
			t.Errorf("ReadFrame after Close: %v", err)
		}
	}

	_, err = OpenCapture("No Such Microphone 9000")
	t.Logf("OpenCapture(name): %v", err)
	if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "capture device") {
		t.Errorf("OpenCapture of a missing name: %v, want ErrNoDevice saying so", err)
	}

	spk, err := OpenPlayback()
	t.Logf("OpenPlayback(): %v", err)
	switch {
	case err != nil:
		if !errors.Is(err, ErrNoDevice) {
			t.Errorf("OpenPlayback: %v, want ErrNoDevice", err)
		}
		if !strings.Contains(err.Error(), "output") {
			t.Errorf("OpenPlayback error %q does not say it was the output", err)
		}
		// A second try is answered from the cache, quickly and the same.
		start := time.Now()
		_, err2 := OpenPlayback()
		if !errors.Is(err2, ErrNoDevice) || time.Since(start) > 100*time.Millisecond {
			t.Errorf("second OpenPlayback: %v after %v", err2, time.Since(start))
		}
	case noSoundCard():
		spk.Close()
		t.Fatal("OpenPlayback succeeded on a machine without a sound card")
	default:
		// Write 200 ms of a tone in real time; the queue stays bounded.
		tone := audio.NewToneSource(440, 0.1)
		pcm := make([]int16, audio.FrameSamples)
		tick := time.NewTicker(audio.FrameDuration)
		for range 10 {
			<-tick.C
			tone.ReadFrame(pcm)
			if err := spk.WriteFrame(pcm); err != nil {
				t.Errorf("WriteFrame: %v", err)
			}
		}
		tick.Stop()
		t.Logf("buffered %v, dropped %d", spk.Buffered(), spk.Dropped())
		if b := spk.Buffered(); b > MaxQueue+PlayerBuffer {
			t.Errorf("buffered %v, over %v", b, MaxQueue+PlayerBuffer)
		}
		spk.Close()
	}
}

// TestPlaybackQueueBounded: a playout clock faster than the card (here:
// no card reading at all) cannot make the queue grow past MaxQueue.
func TestPlaybackQueueBounded(t *testing.T) {
	p := &Playback{maxQ: durBytes(MaxQueue), player: nopPlayer{}}
	pcm := make([]int16, audio.FrameSamples)
	for i := range 50 {
		pcm[0] = int16(i)
		if err := p.WriteFrame(pcm); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.Buffered(); got != MaxQueue {
		t.Errorf("buffered %v, want %v", got, MaxQueue)
	}
	keep := durBytes(MaxQueue) / 2 / audio.FrameSamples // frames that fit
	if want := uint64((50 - keep) * audio.FrameSamples); p.Dropped() != want {
		t.Errorf("dropped %d samples, want %d", p.Dropped(), want)
	}
	// What is left is the newest audio.
	b := make([]byte, 4*audio.FrameSamples)
	n, _ := (&queueReader{p}).Read(b)
	if n != durBytes(MaxQueue) || int(b[0]) != 50-keep || int(b[2*audio.FrameSamples*(keep-1)]) != 49 {
		t.Errorf("read %d bytes starting with frame %d; want the last %d frames", n, b[0], keep)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFrame(pcm); !errors.Is(err, audio.ErrClosed) {
		t.Errorf("WriteFrame after Close: %v", err)
	}
}

// nopPlayer stands in for oto's player where no device exists.
type nopPlayer struct{}

func (nopPlayer) Pause()                  {}
func (nopPlayer) Play()                   {}
func (nopPlayer) IsPlaying() bool         { return true }
func (nopPlayer) Reset()                  {}
func (nopPlayer) Volume() float64         { return 1 }
func (nopPlayer) SetVolume(float64)       {}
func (nopPlayer) UnplayedBufferSize() int { return 0 }
func (nopPlayer) Err() error              { return nil }
func (nopPlayer) Close() error            { return nil }
