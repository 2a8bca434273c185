package device

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
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

	spk, err := OpenPlayback("")
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
		_, err2 := OpenPlayback("")
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
// no card reading at all) cannot make the queue grow past MaxQueue, even
// with loud audio, which has no quiet point to trim; what is dropped is
// the oldest, and every sample written is queued, trimmed or dropped.
func TestPlaybackQueueBounded(t *testing.T) {
	p := &Playback{maxQ: durBytes(MaxQueue), player: nopPlayer{}}
	pcm := make([]int16, audio.FrameSamples)
	audio.NewToneSource(440, 0.5).ReadFrame(pcm)
	const frames = 50
	for i := range frames {
		pcm[len(pcm)-1] = int16(i) // the frame's number, in its last sample
		if err := p.WriteFrame(pcm); err != nil {
			t.Fatal(err)
		}
		if got := p.Buffered(); got > MaxQueue {
			t.Fatalf("frame %d: buffered %v, want at most %v", i, got, MaxQueue)
		}
	}
	if got := p.Buffered(); got != MaxQueue {
		t.Errorf("buffered %v, want %v", got, MaxQueue)
	}
	queued := uint64(durBytes(MaxQueue) / bytesPerSample)
	if p.Dropped()+p.Trimmed()+queued != frames*audio.FrameSamples {
		t.Errorf("dropped %d + trimmed %d + queued %d samples, want %d written", p.Dropped(), p.Trimmed(), queued, frames*audio.FrameSamples)
	}
	// What is left is the newest audio.
	b := make([]byte, 4*audio.FrameSamples)
	n, _ := (&queueReader{p}).Read(b)
	if n != durBytes(MaxQueue) || int16(binary.LittleEndian.Uint16(b[n-2:])) != frames-1 {
		t.Errorf("read %d bytes ending with %d; want the last frame, %d", n, int16(binary.LittleEndian.Uint16(b[n-2:])), frames-1)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFrame(pcm); !errors.Is(err, audio.ErrClosed) {
		t.Errorf("WriteFrame after Close: %v", err)
	}
}

// TestPlaybackTrimsLoudAudio: after one frame too many (a tick that came
// early, or a card that missed its periods), a queue of loud audio with
// no quiet point, read a frame at a time by a card, comes back down to
// within TrimKeep and a trim block of where it stood, by aligned cuts,
// within a second; and never below it, which would underrun the card.
func TestPlaybackTrimsLoudAudio(t *testing.T) {
	p := &Playback{maxQ: durBytes(MaxQueue), player: nopPlayer{}}
	src := audio.NewToneSource(220, 0.5)
	pcm := make([]int16, audio.FrameSamples)
	card := make([]byte, 2*audio.FrameSamples)
	write := func() {
		src.ReadFrame(pcm)
		if err := p.WriteFrame(pcm); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 { // steady: the card takes each frame before the next
		write()
		(&queueReader{p}).Read(card)
	}
	write() // one too many
	for i := range 50 {
		write()
		if n, _ := (&queueReader{p}).Read(card); n < len(card) {
			t.Fatalf("write %d: the card found %d bytes of %d: trimmed too much", i, n, len(card))
		}
	}
	lim := TrimKeep + audio.TrimBlock*time.Second/audio.SampleRate
	if got := p.Buffered(); got > lim || p.Trimmed() == 0 {
		t.Errorf("a second after: %v standing (%d samples trimmed), want at most %v", got, p.Trimmed(), lim)
	}
	if got := p.Buffered(); got < TrimKeep {
		t.Errorf("a second after: %v standing, below TrimKeep", got)
	}
	if p.Dropped() != 0 {
		t.Errorf("%d samples dropped", p.Dropped())
	}
}

// TestPlaybackTrimGuard: quiet audio (comfort noise) read a frame at a
// time by a card; one frame too many is trimmed back to TrimKeep, but a
// second hiccup soon after a trim leaves a device period standing, so
// that a card on a busy machine has a period in hand instead of coming
// up short again and again.
func TestPlaybackTrimGuard(t *testing.T) {
	p := &Playback{maxQ: durBytes(MaxQueue), player: nopPlayer{}}
	pcm := make([]int16, audio.FrameSamples)
	card := make([]byte, 2*audio.FrameSamples)
	rng := rand.New(rand.NewPCG(1, 1))
	step := func(extra bool) {
		for i := range pcm {
			pcm[i] = int16(rng.IntN(101) - 50) // about -60 dBFS
		}
		if err := p.WriteFrame(pcm); err != nil {
			t.Fatal(err)
		}
		if extra {
			return
		}
		if n, _ := (&queueReader{p}).Read(card); n < len(card) {
			t.Fatalf("the card found %d bytes of %d", n, len(card))
		}
	}
	// What stands before a write is what is left after the card's read.
	block := audio.TrimBlock * time.Second / audio.SampleRate
	period := time.Duration(devicePeriod) * time.Second / audio.SampleRate
	for range 20 {
		step(false)
	}
	step(true)
	for range 20 {
		step(false)
	}
	if got := p.Buffered(); got < TrimKeep || got >= TrimKeep+block {
		t.Fatalf("after one hiccup: %v standing, want TrimKeep (%v) and less than a block", got, TrimKeep)
	}
	step(true)
	for range 20 {
		step(false)
	}
	if got := p.Buffered(); got < period || got >= period+block {
		t.Fatalf("after a second hiccup: %v standing, want a device period (%v) and less than a block", got, period)
	}
}

// TestPlaybackSilenceNotQueued: silence written to an empty queue (what
// the receiver writes while its jitter buffer primes) is not queued, so
// the first sound after it is not held back; silence between sounds is.
func TestPlaybackSilenceNotQueued(t *testing.T) {
	p := &Playback{maxQ: durBytes(5 * audio.FrameDuration), player: nopPlayer{}}
	zero := make([]int16, audio.FrameSamples)
	tone := make([]int16, audio.FrameSamples)
	audio.NewToneSource(440, 0.5).ReadFrame(tone)
	for _, f := range [][]int16{zero, zero, tone, zero, tone} {
		if err := p.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := p.Buffered(), 3*audio.FrameDuration; got != want {
		t.Errorf("buffered %v, want %v (tone, silence, tone)", got, want)
	}
	b := make([]byte, 2*audio.FrameSamples)
	(&queueReader{p}).Read(b)
	if v := int16(binary.LittleEndian.Uint16(b[2:])); v != tone[1] {
		t.Errorf("the queue starts with %d, want the tone's %d", v, tone[1])
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

// TestPick: a device is found by its exact name or a unique part of it,
// ignoring case; anything else is ErrUnknownDevice (and ErrNoDevice),
// naming the candidates.
func TestPick(t *testing.T) {
	names := []string{"Built-in Audio Analog Stereo", "USB Headset Analog Mono", "HDMI Output", "hdmi"}
	for _, tc := range []struct {
		name string
		want int // -1: an error
		msg  string
	}{
		{"HDMI Output", 2, ""},
		{"hdmi", 3, ""}, // exact beats a part of another
		{"usb", 1, ""},
		{"built-in audio", 0, ""},
		{"analog", -1, `"Built-in Audio Analog Stereo", "USB Headset Analog Mono"`},
		{"Bluetooth", -1, `there are "Built-in Audio Analog Stereo", "USB Headset Analog Mono", "HDMI Output", "hdmi"`},
		{"", -1, "none"},
	} {
		got, err := pick(names, tc.name)
		switch {
		case tc.want >= 0 && (err != nil || got != tc.want):
			t.Errorf("pick(%q) = %d, %v; want %d", tc.name, got, err, tc.want)
		case tc.want < 0 && (!errors.Is(err, ErrUnknownDevice) || !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), tc.msg)):
			t.Errorf("pick(%q): %v; want ErrUnknownDevice mentioning %s", tc.name, err, tc.msg)
		}
	}
	if _, err := pick(nil, "x"); !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("pick from no devices: %v", err)
	}
}

// TestOpenPlaybackNamed: a named output that does not exist is an error
// that says so; on a machine without a sound card, ErrNoDevice.
func TestOpenPlaybackNamed(t *testing.T) {
	_, err := OpenPlayback("No Such Speakers 9000")
	t.Logf("OpenPlayback(name): %v", err)
	if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "output") {
		t.Errorf("OpenPlayback of a missing name: %v, want ErrNoDevice saying it was the output", err)
	}
	if outs, _ := PlaybackDevices(); len(outs) > 0 && !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("with outputs %v, a missing name gave %v, want ErrUnknownDevice", outs, err)
	}
	if err := PlayTestTone("No Such Speakers 9000", 100*time.Millisecond); !errors.Is(err, ErrNoDevice) {
		t.Errorf("PlayTestTone on a missing output: %v", err)
	}
	if err := InputLevels("No Such Microphone 9000", 100*time.Millisecond, func(float64) {}); !errors.Is(err, ErrNoDevice) {
		t.Errorf("InputLevels on a missing microphone: %v", err)
	}
}

// TestChosenOutputALSANull: a chosen output plays through miniaudio.
// ALSA's "null" device, which discards what it is given but is driven
// like any other, stands in for a second sound card: the device takes
// the queued audio, Close releases it, and writing after Close fails.
func TestChosenOutputALSANull(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ALSA only")
	}
	withNull = true
	defer func() { withNull = false }()
	outs, err := PlaybackDevices()
	if err != nil {
		t.Skip(err)
	}
	var null string
	for _, o := range outs {
		if strings.Contains(strings.ToLower(o.Name), "discard all samples") {
			null = o.Name
		}
	}
	if null == "" {
		t.Skipf("no ALSA null device among %v", outs)
	}
	p, err := OpenPlayback("discard all samples")
	if err != nil {
		t.Fatal(err)
	}
	if p.dev == nil || p.player != nil {
		t.Fatal("a named output did not open through miniaudio")
	}
	pcm := make([]int16, audio.FrameSamples)
	audio.NewToneSource(440, 0.5).ReadFrame(pcm)
	if err := p.WriteFrame(pcm); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for p.Buffered() == audio.FrameDuration && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if b := p.Buffered(); b >= audio.FrameDuration {
		t.Errorf("the device took nothing in 2 s: %v buffered", b)
	}
	if p.Trimmed() != 0 {
		t.Errorf("trimmed %d samples of a loud tone", p.Trimmed())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFrame(pcm); !errors.Is(err, audio.ErrClosed) {
		t.Errorf("WriteFrame after Close: %v", err)
	}
	start := time.Now()
	if err := PlayTestTone(null, 200*time.Millisecond); err != nil {
		t.Errorf("PlayTestTone on %q: %v", null, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("PlayTestTone of 200 ms returned after %v", d)
	}
}
