package audio

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Sender is the sending half of a call's audio: it reads a frame from its
// Source, silences it while muted, measures its level and encodes it.
// The caller drives it with a 20 ms clock (a live source paces itself by
// blocking) and sends each packet as one RTP packet.
//
// NextPacket must be called from one goroutine at a time; SetMuted,
// Muted and Level are safe from any goroutine.
type Sender struct {
	mute  *Mute
	meter Meter
	enc   *Encoder
	pcm   []int16
}

// NewSender returns a Sender reading src and encoding with cfg. The
// Sender owns src: Close closes it.
func NewSender(src Source, cfg EncoderConfig) (*Sender, error) {
	enc, err := NewEncoder(cfg)
	if err != nil {
		return nil, err
	}
	return &Sender{mute: NewMute(src), enc: enc, pcm: make([]int16, FrameSamples)}, nil
}

// NextPacket reads and encodes the next 20 ms frame and returns its Opus
// packet (a new slice each call). It returns the source's error, io.EOF
// when a file source has run out.
func (s *Sender) NextPacket() ([]byte, error) {
	if err := s.mute.ReadFrame(s.pcm); err != nil {
		return nil, err
	}
	s.meter.Observe(s.pcm)
	return s.enc.Encode(make([]byte, 0, 128), s.pcm)
}

// Paced reports whether the Sender's source paces itself (a microphone,
// whose ReadFrame blocks until the frame has been captured), so that the
// call's send loop reads it back to back instead of on a clock of its
// own (call.Paced).
func (s *Sender) Paced() bool {
	p, ok := s.mute.src.(interface{ Paced() bool })
	return ok && p.Paced()
}

// SetMuted mutes or unmutes the microphone: muted frames are encoded as
// silence, which with DTX gives packets of a byte or two.
func (s *Sender) SetMuted(muted bool) { s.mute.SetMuted(muted) }

// Muted reports whether the Sender is muted.
func (s *Sender) Muted() bool { return s.mute.Muted() }

// Level returns the level of the last frame sent, after muting, in dBFS.
func (s *Sender) Level() float64 { return s.meter.Level() }

// Close closes the source.
func (s *Sender) Close() error { return s.mute.Close() }

// ReceiverStats is what a Receiver has done.
type ReceiverStats struct {
	JitterStats
	// Frames is the number of frames written to the sink: one per Tick.
	Frames uint64
	// DecodeErrors counts packets that did not decode (concealed instead).
	DecodeErrors uint64
	// SinkErrors counts frames the sink refused.
	SinkErrors uint64
}

// Receiver is the receiving half of a call's audio: packets from the
// network go into a JitterBuffer; every 20 ms the playout clock calls
// Tick, which takes one frame from it, decodes it (normally, from the
// next packet's FEC data, or by concealment) and writes it to the Sink.
//
// Push and Tick may be called from different goroutines (the RTP reader
// and the playout clock); Stats and Level are safe from any goroutine.
type Receiver struct {
	mu  sync.Mutex // guards jb and stats
	jb  *JitterBuffer
	st  ReceiverStats
	dec *Decoder // used by Tick only
	pcm []int16

	sink  Sink
	meter Meter

	closeOnce sync.Once
}

// NewReceiver returns a Receiver that plays into sink with a jitter buffer
// set up by cfg. The Receiver owns sink: Close closes it.
func NewReceiver(sink Sink, cfg JitterConfig) (*Receiver, error) {
	dec, err := NewDecoder()
	if err != nil {
		return nil, err
	}
	return &Receiver{
		jb:   NewJitterBuffer(cfg),
		dec:  dec,
		pcm:  make([]int16, FrameSamples),
		sink: sink,
	}, nil
}

// Push hands the Receiver one RTP packet's sequence number, timestamp and
// Opus payload, received at arrival (on the same clock as Tick's now).
// The payload is copied.
func (r *Receiver) Push(seq uint16, ts uint32, payload []byte, arrival time.Time) {
	r.mu.Lock()
	r.jb.Push(Packet{Seq: seq, Timestamp: ts, Payload: payload, Arrival: arrival})
	r.mu.Unlock()
}

// Due returns when the next slot is due to be played (JitterBuffer.Due),
// so that the playout clock can tick right then; false when the jitter
// buffer is idle or has no packet to prime with.
func (r *Receiver) Due(now time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.jb.Due(now)
}

// Tick plays the 20 ms slot due at now: it always writes exactly one
// frame to the sink (silence while the buffer primes). It returns the
// sink's error; decoding errors are concealed and counted instead.
func (r *Receiver) Tick(now time.Time) error {
	r.mu.Lock()
	f := r.jb.Pop(now)
	r.mu.Unlock()

	var err error
	switch f.Kind {
	case FrameSilence:
		clear(r.pcm)
	case FramePacket:
		err = r.dec.Decode(f.Payload, r.pcm)
	case FrameFEC:
		err = r.dec.DecodeFEC(f.Payload, r.pcm)
	default: // FrameConceal, FrameDTX, FrameStretch
		err = r.dec.Conceal(r.pcm)
	}
	decodeFailed := err != nil
	if decodeFailed {
		if cerr := r.dec.Conceal(r.pcm); cerr != nil {
			clear(r.pcm)
		}
	}
	r.meter.Observe(r.pcm)
	werr := r.sink.WriteFrame(r.pcm)

	r.mu.Lock()
	r.st.Frames++
	if decodeFailed {
		r.st.DecodeErrors++
	}
	if werr != nil {
		r.st.SinkErrors++
	}
	r.mu.Unlock()
	if werr != nil {
		return fmt.Errorf("audio: receiver sink: %w", werr)
	}
	return nil
}

// Stats returns the Receiver's and its jitter buffer's counters.
func (r *Receiver) Stats() ReceiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	s.JitterStats = r.jb.Stats()
	return s
}

// Level returns the level of the last frame played, in dBFS.
func (r *Receiver) Level() float64 { return r.meter.Level() }

// Close closes the sink (once; later calls return nil).
func (r *Receiver) Close() error {
	err := error(nil)
	r.closeOnce.Do(func() { err = r.sink.Close() })
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("audio: receiver close: %w", err)
	}
	return nil
}
