package audio

import (
	"fmt"

	"github.com/hraban/opus"
)

// Encoder defaults.
const (
	// DefaultBitrate is the Opus target bitrate in bit/s: wideband-to-
	// superwideband voice with room for in-band FEC.
	DefaultBitrate = 24000
	// DefaultExpectedLoss is the packet loss, in percent, the encoder
	// plans its in-band FEC for until told otherwise.
	DefaultExpectedLoss = 10
	// maxPacket bounds one encoded packet; 20 ms at 510 kbit/s is 1275
	// bytes, the Opus maximum.
	maxPacket = 1275
)

// EncoderConfig sets up an Encoder. Zero fields take the defaults.
type EncoderConfig struct {
	// Bitrate is the target bitrate in bit/s (default DefaultBitrate).
	Bitrate int
	// ExpectedLoss is the packet loss in percent (1–100) that in-band FEC
	// is sized for (default DefaultExpectedLoss). libopus adds no FEC
	// data at all when it expects no loss; to say so, call
	// SetExpectedLoss(0) after NewEncoder.
	ExpectedLoss int
	// Complexity is the libopus complexity, 1–10 (default: libopus's own,
	// 9 in libopus 1.3).
	Complexity int
	// DisableFEC turns in-band forward error correction off.
	DisableFEC bool
	// DisableDTX turns discontinuous transmission off.
	DisableDTX bool
}

// Encoder turns 20 ms frames of 48 kHz mono PCM into Opus packets
// (application VoIP, in-band FEC and DTX on by default). It is not safe
// for concurrent use.
type Encoder struct {
	enc *opus.Encoder
	buf [maxPacket]byte
}

// NewEncoder returns an Encoder set up by cfg.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	enc, err := opus.NewEncoder(SampleRate, Channels, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("audio: new encoder: %w", err)
	}
	e := &Encoder{enc: enc}
	if cfg.Bitrate == 0 {
		cfg.Bitrate = DefaultBitrate
	}
	if cfg.ExpectedLoss == 0 {
		cfg.ExpectedLoss = DefaultExpectedLoss
	}
	steps := []struct {
		what string
		err  func() error
	}{
		{"bitrate", func() error { return enc.SetBitrate(cfg.Bitrate) }},
		{"in-band FEC", func() error { return enc.SetInBandFEC(!cfg.DisableFEC) }},
		{"expected loss", func() error { return enc.SetPacketLossPerc(cfg.ExpectedLoss) }},
		{"DTX", func() error { return enc.SetDTX(!cfg.DisableDTX) }},
		{"complexity", func() error {
			if cfg.Complexity == 0 {
				return nil
			}
			return enc.SetComplexity(cfg.Complexity)
		}},
	}
	for _, s := range steps {
		if err := s.err(); err != nil {
			return nil, fmt.Errorf("audio: encoder %s: %w", s.what, err)
		}
	}
	return e, nil
}

// Encode encodes one frame (exactly FrameSamples samples) and appends the
// packet to dst. While DTX is on and the input is silent, the packet is
// one or two bytes long (see IsDTX).
func (e *Encoder) Encode(dst []byte, pcm []int16) ([]byte, error) {
	if err := checkFrame(pcm); err != nil {
		return dst, err
	}
	n, err := e.enc.Encode(pcm, e.buf[:])
	if err != nil {
		return dst, fmt.Errorf("audio: encode: %w", err)
	}
	return append(dst, e.buf[:n]...), nil
}

// SetExpectedLoss tells the encoder the packet loss in percent (0–100) to
// size its in-band FEC for (0: no FEC data at all).
func (e *Encoder) SetExpectedLoss(percent int) error {
	if err := e.enc.SetPacketLossPerc(percent); err != nil {
		return fmt.Errorf("audio: encoder expected loss %d%%: %w", percent, err)
	}
	return nil
}

// IsDTX reports whether pkt is a DTX packet: one the encoder produced for
// silence, which carries no audio (RFC 6716: two bytes or fewer). Sending
// it keeps sequence numbers and timestamps in step; a sender that skips
// it must still advance the RTP timestamp.
func IsDTX(pkt []byte) bool { return len(pkt) <= 2 }

// Decoder turns Opus packets back into 20 ms frames of 48 kHz mono PCM,
// and makes up lost frames from in-band FEC or by concealment. It is not
// safe for concurrent use.
type Decoder struct {
	dec *opus.Decoder
}

// NewDecoder returns a Decoder for 48 kHz mono.
func NewDecoder() (*Decoder, error) {
	dec, err := opus.NewDecoder(SampleRate, Channels)
	if err != nil {
		return nil, fmt.Errorf("audio: new decoder: %w", err)
	}
	return &Decoder{dec: dec}, nil
}

// Decode decodes pkt, which must hold exactly one 20 ms frame, into pcm
// (exactly FrameSamples long).
func (d *Decoder) Decode(pkt []byte, pcm []int16) error {
	if err := checkFrame(pcm); err != nil {
		return err
	}
	if len(pkt) == 0 {
		return d.Conceal(pcm)
	}
	// libopus takes the buffer's capacity as the largest frame it may
	// write; cut it to one frame so that a longer packet is an error,
	// not a write past pcm.
	n, err := d.dec.Decode(pkt, pcm[:FrameSamples:FrameSamples])
	if err != nil {
		return fmt.Errorf("audio: decode: %w", err)
	}
	if n != FrameSamples {
		return fmt.Errorf("%w: %d samples", ErrPacketDuration, n)
	}
	return nil
}

// DecodeFEC recovers the frame before next, the packet that follows a
// lost one, from next's in-band FEC data, into pcm. Where next carries no
// FEC data (see PacketHasFEC) libopus conceals instead. Afterwards, next
// itself is decoded as usual with Decode.
func (d *Decoder) DecodeFEC(next []byte, pcm []int16) error {
	if err := checkFrame(pcm); err != nil {
		return err
	}
	if len(next) == 0 {
		return d.Conceal(pcm)
	}
	// For FEC and PLC libopus needs the exact duration of the missing
	// audio, which it reads from the buffer's capacity.
	if err := d.dec.DecodeFEC(next, pcm[:FrameSamples:FrameSamples]); err != nil {
		return fmt.Errorf("audio: decode FEC: %w", err)
	}
	return nil
}

// Conceal makes up one lost frame (packet loss concealment, or comfort
// noise after a DTX packet) into pcm.
func (d *Decoder) Conceal(pcm []int16) error {
	if err := checkFrame(pcm); err != nil {
		return err
	}
	if err := d.dec.DecodePLC(pcm[:FrameSamples:FrameSamples]); err != nil {
		return fmt.Errorf("audio: conceal: %w", err)
	}
	return nil
}

// PacketHasFEC reports whether the Opus packet pkt carries in-band FEC
// (SILK LBRR) data for the frame before it, so that DecodeFEC can recover
// that frame rather than conceal it. It reads the LBRR flag of the first
// SILK frame, as libopus 1.5's opus_packet_has_lbrr does (libopus 1.3,
// which Debian ships, lacks that call).
func PacketHasFEC(pkt []byte) bool {
	if len(pkt) < 2 {
		return false
	}
	toc := pkt[0]
	config := toc >> 3
	if config >= 16 { // CELT-only: no SILK layer, no LBRR
		return false
	}
	// Samples per Opus frame at 48 kHz: SILK-only configs 0–11 come in
	// 10/20/40/60 ms, hybrid configs 12–15 in 10/20 ms.
	var frameMs int
	if config < 12 {
		frameMs = [4]int{10, 20, 40, 60}[config&3]
	} else {
		frameMs = [2]int{10, 20}[config&1]
	}
	silkFrames := 1
	if frameMs > 20 {
		silkFrames = frameMs / 20
	}
	stereo := toc&0x04 != 0
	frame, ok := firstFrame(pkt)
	if !ok || len(frame) == 0 {
		return false
	}
	// The SILK header starts the range-coded data with equiprobable bits:
	// one VAD flag per SILK frame, then the LBRR flag (per channel), so
	// they are the top bits of the first byte.
	lbrr := frame[0]>>(7-silkFrames)&1 == 1
	if stereo {
		lbrr = lbrr || frame[0]>>(6-2*silkFrames)&1 == 1
	}
	return lbrr
}

// firstFrame returns the first Opus frame of pkt (RFC 6716 §3.2).
func firstFrame(pkt []byte) ([]byte, bool) {
	body := pkt[1:]
	switch pkt[0] & 3 {
	case 0: // one frame
		return body, true
	case 1: // two frames of equal size
		if len(body)%2 != 0 {
			return nil, false
		}
		return body[:len(body)/2], true
	case 2: // two frames, the first one's size given
		size, n, ok := frameLen(body)
		if !ok || n+size > len(body) {
			return nil, false
		}
		return body[n : n+size], true
	default: // code 3: a frame count byte, optional padding, sizes if VBR
		if len(body) < 1 {
			return nil, false
		}
		fc := body[0]
		count := int(fc & 0x3f)
		vbr, padded := fc&0x80 != 0, fc&0x40 != 0
		body = body[1:]
		if count == 0 {
			return nil, false
		}
		pad := 0
		for padded {
			if len(body) < 1 {
				return nil, false
			}
			p := int(body[0])
			body = body[1:]
			if p == 255 {
				pad += 254
			} else {
				pad += p
				padded = false
			}
		}
		if pad > len(body) {
			return nil, false
		}
		body = body[:len(body)-pad]
		if !vbr {
			if len(body)%count != 0 {
				return nil, false
			}
			return body[:len(body)/count], true
		}
		if count == 1 {
			return body, true
		}
		// VBR: count-1 sizes follow; the first is frame 0's.
		size, n, ok := frameLen(body)
		if !ok {
			return nil, false
		}
		for i := 1; i < count-1; i++ {
			_, m, ok := frameLen(body[n:])
			if !ok {
				return nil, false
			}
			n += m
		}
		if n+size > len(body) {
			return nil, false
		}
		return body[n : n+size], true
	}
}

// frameLen reads an RFC 6716 frame length (one or two bytes).
func frameLen(b []byte) (size, n int, ok bool) {
	if len(b) < 1 {
		return 0, 0, false
	}
	if b[0] < 252 {
		return int(b[0]), 1, true
	}
	if len(b) < 2 {
		return 0, 0, false
	}
	return int(b[1])*4 + int(b[0]), 2, true
}
