package rtc

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// Audio. A session made with Config.Audio negotiates one Opus track each
// way (sendrecv) beside the data channel: 48 kHz, 20 ms frames, in-band FEC
// and DTX, mono. The rtpmap says opus/48000/2, as RFC 7587 requires of
// every Opus stream; mono is the default of its stereo and sprop-stereo
// parameters, and an Opus packet says in its own TOC byte how many
// channels it has.
//
// The data channel stays: it opens only once DTLS is up and its
// certificate checked, which makes OnOpen the moment the call is through;
// it carries the caller's keepalives and hang-up, so that a call notices
// a peer that went silent (Opus DTX sends next to nothing in a pause) and
// ends at once at either end, without waiting for a signal through the
// supernodes; and its SCTP association says at once when the other end
// closed. It costs a few bytes a second.
//
// WriteAudio packetizes one Opus packet into one RTP packet (sequence
// number and timestamp from a random start, RFC 3550; the marker bit on
// the first packet of a talkspurt, RFC 7587). AudioConfig.OnPacket gets
// each RTP packet of the other end's track, from a read loop of the
// session's own. There is no RTCP: no interceptors (NACK, reports) are
// registered, since Opus recovers with FEC and the jitter buffer measures
// loss and jitter from sequence numbers and timestamps itself.

// Opus parameters of the audio track.
const (
	OpusClockRate   = 48000
	OpusPayloadType = 111
	OpusFmtp        = "minptime=10;useinbandfec=1;usedtx=1"
	// FrameDuration is the duration of one Opus packet.
	FrameDuration = 20 * time.Millisecond
	// MaxAudioPacket is the largest Opus packet WriteAudio sends: an RTP
	// packet of it and its headers stays under a 1280-byte path MTU.
	MaxAudioPacket = 1200
	// maxAudioDuration is the longest an Opus packet can last.
	maxAudioDuration = 120 * time.Millisecond
)

// opusCodec is the one audio codec a session offers and accepts.
var opusCodec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType:    webrtc.MimeTypeOpus,
		ClockRate:   OpusClockRate,
		Channels:    2,
		SDPFmtpLine: OpusFmtp,
	},
	PayloadType: OpusPayloadType,
}

// AudioConfig configures the audio track of a session.
type AudioConfig struct {
	// OnPacket, if set, is called with each RTP packet of the other end's
	// audio track: its sequence number, timestamp (48 kHz) and Opus
	// payload, which the callee may keep. It is called from one goroutine
	// of the session, only after the other end's certificate was checked,
	// and never after OnClose; it must not block (the jitter buffer takes
	// the packet and returns).
	OnPacket func(seq uint16, ts uint32, payload []byte)
}

// audioState is the sending side of a session's audio track.
type audioState struct {
	track  *webrtc.TrackLocalStaticRTP
	remote atomic.Bool // a remote audio track is being read

	mu     sync.Mutex // guards the fields below; serializes WriteAudio
	seq    uint16
	ts     uint32
	marker bool // the next packet starts a talkspurt
}

// opusMediaEngine returns a media engine that knows Opus only.
func opusMediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(opusCodec, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	return m, nil
}

// addAudio adds the sendrecv Opus transceiver to pc. Both ends add it
// before any description: the offerer's goes into its offer, and the
// answerer's takes the offer's audio section.
func addAudio(pc *webrtc.PeerConnection) (*audioState, error) {
	track, err := webrtc.NewTrackLocalStaticRTP(opusCodec.RTPCodecCapability, "audio", "parley")
	if err != nil {
		return nil, fmt.Errorf("rtc: audio track: %w", err)
	}
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		return nil, fmt.Errorf("rtc: audio transceiver: %w", err)
	}
	// Read (and drop) what RTCP comes back, so pion's buffer never fills;
	// Read fails once the sender stops, when the session closes.
	sender := tr.Sender()
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	return &audioState{
		track:  track,
		seq:    uint16(rand.N(1 << 16)),
		ts:     rand.Uint32(),
		marker: true,
	}, nil
}

// onTrack is pion's OnTrack: it reads the first remote audio track.
func (s *Session) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	if tr.Kind() != webrtc.RTPCodecTypeAudio || !s.audio.remote.CompareAndSwap(false, true) {
		s.log.Info("rtc: ignoring a remote track", "kind", tr.Kind().String())
		return
	}
	s.mu.Lock()
	if s.readersDone {
		s.mu.Unlock()
		return
	}
	s.readers.Add(1)
	s.mu.Unlock()
	defer s.readers.Done()
	if !s.awaitVerified() {
		return
	}
	s.log.Debug("rtc: remote audio track", "codec", tr.Codec().MimeType, "ssrc", uint32(tr.SSRC()))
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			if !errors.Is(err, io.EOF) && !s.isEnded() {
				s.log.Debug("rtc: audio track ended", "err", err)
			}
			return
		}
		if s.isEnded() {
			continue
		}
		if f := s.cfg.Audio.OnPacket; f != nil {
			f(p.SequenceNumber, p.Timestamp, p.Payload)
		}
	}
}

// WriteAudio sends one Opus packet lasting dur (FrameDuration, normally) on
// the audio track, as one RTP packet. An empty packet sends nothing and
// only moves the timestamp on by dur, for a frame the encoder left out
// (DTX); the next packet then carries the marker bit. WriteAudio returns
// ErrNoAudio on a session without audio, ErrTooLarge for a packet over
// MaxAudioPacket, ErrNotOpen until DTLS is up and its certificate checked,
// and ErrClosed after the end. It may be called from any goroutine.
func (s *Session) WriteAudio(pkt []byte, dur time.Duration) error {
	a := s.audio
	switch {
	case a == nil:
		return ErrNoAudio
	case len(pkt) > MaxAudioPacket:
		return fmt.Errorf("%w: audio packet of %d bytes, at most %d", ErrTooLarge, len(pkt), MaxAudioPacket)
	case dur <= 0 || dur > maxAudioDuration:
		return fmt.Errorf("rtc: audio packet of %v", dur)
	case s.isEnded():
		return ErrClosed
	case !s.verified.Load():
		return ErrNotOpen
	}
	samples := uint32(dur * OpusClockRate / time.Second)
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(pkt) == 0 {
		a.ts += samples
		a.marker = true
		return nil
	}
	p := rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			Marker:         a.marker,
			SequenceNumber: a.seq,
			Timestamp:      a.ts,
		},
		Payload: pkt,
	}
	a.seq++
	a.ts += samples
	a.marker = false
	if err := a.track.WriteRTP(&p); err != nil {
		if s.isEnded() {
			return ErrClosed
		}
		return fmt.Errorf("rtc: audio: %w", err)
	}
	return nil
}
