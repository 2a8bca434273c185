package audio

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

// TestMeter: a full-scale sine reads about −3 dBFS, half scale −9 dBFS,
// silence MinLevel; Level is safe to read while another goroutine
// observes (run with -race).
func TestMeter(t *testing.T) {
	pcm := make([]int16, FrameSamples)
	var m Meter
	if m.Level() != MinLevel {
		t.Errorf("fresh meter reads %.1f", m.Level())
	}
	NewToneSource(1000, 1).ReadFrame(pcm)
	m.Observe(pcm)
	if l := m.Level(); math.Abs(l-(-3.01)) > 0.1 {
		t.Errorf("full-scale sine: %.2f dBFS, want −3.01", l)
	}
	NewToneSource(1000, 0.5).ReadFrame(pcm)
	m.Observe(pcm)
	if l := m.Level(); math.Abs(l-(-9.03)) > 0.1 {
		t.Errorf("half-scale sine: %.2f dBFS, want −9.03", l)
	}
	clear(pcm)
	m.Observe(pcm)
	if l := m.Level(); l != MinLevel {
		t.Errorf("silence: %.1f dBFS, want %v", l, MinLevel)
	}
	pcm[0] = 1
	m.Observe(pcm)
	if l := m.Level(); l > -110 || l < MinLevel {
		t.Errorf("one LSB in a frame: %.1f dBFS", l)
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				if l := m.Level(); l > 0 || l < MinLevel || math.IsNaN(l) {
					t.Errorf("concurrent read: %v", l)
					return
				}
			}
		}
	}()
	tone := NewToneSource(300, 0.7)
	for range 2000 {
		tone.ReadFrame(pcm)
		m.Observe(pcm)
	}
	close(stop)
	wg.Wait()
}

// TestMute: a muted Sender reads −∞ (MinLevel), sends DTX packets of a
// byte or two, and what the far end decodes is (near) silence; unmuted,
// the tone is back.
func TestMute(t *testing.T) {
	snd, err := NewSender(NewToneSource(440, 0.5), EncoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int16, FrameSamples)
	play := func(n int) (sizes []int, level float64) {
		level = MinLevel
		for range n {
			p, err := snd.NextPacket()
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(p))
			if err := dec.Decode(p, out); err != nil {
				t.Fatal(err)
			}
			level = Level(out)
		}
		return sizes, level
	}
	sizes, lvl := play(50)
	if snd.Level() < -10 || lvl < -12 {
		t.Fatalf("unmuted: sender level %.1f, decoded %.1f dBFS", snd.Level(), lvl)
	}
	snd.SetMuted(true)
	if !snd.Muted() {
		t.Fatal("Muted() false after SetMuted(true)")
	}
	sizes, lvl = play(100)
	dtx := 0
	for _, s := range sizes[25:] { // after 0.5 s of silence
		if s <= 2 {
			dtx++
		}
	}
	t.Logf("muted: packet sizes %v; decoded level %.1f dBFS", sizes[:30], lvl)
	if snd.Level() != MinLevel {
		t.Errorf("muted sender level %.1f, want MinLevel", snd.Level())
	}
	if dtx < 60 { // of 75
		t.Errorf("only %d of 75 muted packets are DTX (≤ 2 bytes)", dtx)
	}
	if lvl > -60 {
		t.Errorf("muted audio decodes at %.1f dBFS, want near silence", lvl)
	}
	snd.SetMuted(false)
	_, lvl = play(25)
	if lvl < -12 {
		t.Errorf("unmuted again: decoded level %.1f dBFS", lvl)
	}
}

// TestFrameSizeChecked: every Source, Sink and codec refuses a buffer
// that is not one frame.
func TestFrameSizeChecked(t *testing.T) {
	short := make([]int16, FrameSamples-1)
	enc, _ := NewEncoder(EncoderConfig{})
	dec, _ := NewDecoder()
	for name, err := range map[string]error{
		"tone":    NewToneSource(440, 1).ReadFrame(short),
		"null":    NullSink{}.WriteFrame(short),
		"decode":  dec.Decode([]byte{0xfc, 0}, short),
		"fec":     dec.DecodeFEC([]byte{0xfc, 0}, short),
		"conceal": dec.Conceal(short),
		"encode": func() error {
			_, err := enc.Encode(nil, short)
			return err
		}(),
	} {
		if !errors.Is(err, ErrFrameSize) {
			t.Errorf("%s: %v, want ErrFrameSize", name, err)
		}
	}
	if err := NullSink.WriteFrame(NullSink{}, make([]int16, FrameSamples)); err != nil {
		t.Errorf("NullSink: %v", err)
	}
}

// TestToneContinuousPhase: frame after frame, the tone has no seams.
func TestToneContinuousPhase(t *testing.T) {
	tone := NewToneSource(441, 0.8)
	var all []int16
	pcm := make([]int16, FrameSamples)
	for range 50 {
		tone.ReadFrame(pcm)
		all = append(all, pcm...)
	}
	if s := snr(all, 441); s < 70 {
		t.Errorf("tone over 50 frames fits one sine at %.1f dB only: phase jumps between frames", s)
	}
	tone.Close()
	if err := tone.ReadFrame(pcm); !errors.Is(err, ErrClosed) {
		t.Errorf("read after Close: %v", err)
	}
}

// TestPacketHasFEC reads the LBRR flag through every Opus framing code.
func TestPacketHasFEC(t *testing.T) {
	const silkWB20 = 9 << 3 // SILK-only wideband 20 ms
	for _, tc := range []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"code0 lbrr", []byte{silkWB20, 0x40, 1}, true},
		{"code0 vad only", []byte{silkWB20, 0x80, 1}, false},
		{"celt", []byte{31 << 3, 0xff, 0xff}, false},
		{"code1", []byte{silkWB20 | 1, 0x40, 0x00}, true},
		{"code2", []byte{silkWB20 | 2, 1, 0x40, 0x00, 0x00}, true},
		{"code3 cbr padded", []byte{silkWB20 | 3, 0x40 | 1, 2, 0x40, 0xaa, 0, 0}, true},
		{"code3 vbr", []byte{silkWB20 | 3, 0x80 | 2, 1, 0x40, 0x00}, true},
		{"code3 truncated", []byte{silkWB20 | 3}, false},
		{"dtx", []byte{silkWB20}, false},
		{"40ms lbrr", []byte{10 << 3, 0x20}, true}, // two SILK frames: VAD, VAD, LBRR
		{"40ms vad", []byte{10 << 3, 0x40}, false},
	} {
		if got := PacketHasFEC(tc.pkt); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestReceiverConcurrent: the RTP goroutine pushes while the playout
// goroutine ticks and a UI reads stats and level (run with -race).
func TestReceiverConcurrent(t *testing.T) {
	snd, _ := NewSender(NewToneSource(440, 0.5), EncoderConfig{})
	rcv, err := NewReceiver(NullSink{}, JitterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	var pkts [][]byte
	for range 200 {
		p, _ := snd.NextPacket()
		pkts = append(pkts, p)
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i, p := range pkts {
			rcv.Push(uint16(i), uint32(i*FrameSamples), p, start.Add(time.Duration(i)*FrameDuration))
		}
	}()
	go func() {
		defer wg.Done()
		for k := range 200 {
			if err := rcv.Tick(start.Add(time.Duration(k)*FrameDuration + 30*time.Millisecond)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 200 {
			_ = rcv.Stats()
			_ = rcv.Level()
		}
	}()
	wg.Wait()
	if s := rcv.Stats(); s.Frames != 200 || s.Received != 200 {
		t.Errorf("frames %d received %d, want 200 each", s.Frames, s.Received)
	}
	if err := rcv.Close(); err != nil {
		t.Error(err)
	}
}
