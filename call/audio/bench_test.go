package audio

import (
	"testing"
	"time"
)

// The benchmarks give CPU time per 20 ms frame; 20 ms of real time is
// the budget. b.N frames of a 440 Hz tone at the default settings.

func BenchmarkEncodeFrame(b *testing.B) {
	enc, err := NewEncoder(EncoderConfig{})
	if err != nil {
		b.Fatal(err)
	}
	tone := NewToneSource(440, 0.5)
	frames := make([][]int16, 50)
	for i := range frames {
		frames[i] = make([]int16, FrameSamples)
		tone.ReadFrame(frames[i])
	}
	buf := make([]byte, 0, maxPacket)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := enc.Encode(buf[:0], frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
	}
}

func encodedTone(b *testing.B, n int) [][]byte {
	b.Helper()
	snd, err := NewSender(NewToneSource(440, 0.5), EncoderConfig{})
	if err != nil {
		b.Fatal(err)
	}
	pkts := make([][]byte, n)
	for i := range pkts {
		if pkts[i], err = snd.NextPacket(); err != nil {
			b.Fatal(err)
		}
	}
	return pkts
}

func BenchmarkDecodeFrame(b *testing.B) {
	pkts := encodedTone(b, 500)
	dec, err := NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	pcm := make([]int16, FrameSamples)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := dec.Decode(pkts[i%len(pkts)], pcm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceiverTick: one Push and one Tick (jitter buffer, decode,
// level meter, sink) per frame.
func BenchmarkReceiverTick(b *testing.B) {
	pkts := encodedTone(b, 500)
	rcv, err := NewReceiver(NullSink{}, JitterConfig{})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at := start.Add(time.Duration(i) * FrameDuration)
		rcv.Push(uint16(i), uint32(i*FrameSamples), pkts[i%len(pkts)], at)
		if err := rcv.Tick(at.Add(30 * time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if s := rcv.Stats(); s.Played < uint64(b.N)*9/10 {
		b.Fatalf("played %d of %d", s.Played, b.N)
	}
}
