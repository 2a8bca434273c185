// Package audio is the audio pipeline of a call, everything around the
// Opus packets that the call package carries over a WebRTC audio track:
// sources and sinks of PCM, the Opus codec, the jitter buffer, and the
// Sender and Receiver that join them.
//
// # Format
//
// One format everywhere: 48 kHz, mono, int16 PCM in 20 ms frames of
// FrameSamples (960) samples, one Opus packet per frame, RTP timestamps
// on the 48 kHz clock.
//
// # Sending
//
//	Source → Mute → Meter → Encoder → NextPacket() → RTP
//
// A Sender reads one frame from its Source per NextPacket call. Sources
// here are ToneSource and WAVSource (which return at once; the caller
// paces them with a 20 ms clock); package device adds the microphone,
// which blocks until a frame is captured. The Encoder is libopus
// (github.com/hraban/opus) in its VoIP mode at DefaultBitrate (24 kbit/s)
// with in-band FEC planned for DefaultExpectedLoss (10 %) and DTX on: a
// silent or muted sender sends packets of one byte (IsDTX).
//
// # Receiving
//
//	RTP → Push → JitterBuffer → Tick(now): decode | FEC | conceal → Meter → Sink
//
// A Receiver takes packets in any order with Push and plays one frame per
// Tick, which the caller's 20 ms playout clock calls. Each Tick writes
// exactly one frame to the Sink: the packet for that slot decoded, or,
// if it is lost or late, the frame recovered from the next packet's FEC
// data (when that packet is already here and carries FEC), or else a
// concealed frame. The JitterBuffer (see its doc) keeps the playout delay
// at a target that follows the measured jitter between 5 ms (a frame
// more, and at least 20 ms, while packets are lost) and 200 ms.
//
// # Bringing the delay back down
//
// A hiccup — a tick of the playout clock or the sound card's thread
// waking late, a late packet, a stretch of the jitter buffer — adds
// delay that nothing in a steady stream would take away. Media's
// playout clock ticks when the jitter buffer's next slot is due
// (JitterBuffer.Due), so the extra delay does not stay in the jitter
// buffer: the frames go to the sink early, and the device's Playback
// measures what stands in its queue and takes it out where the audio is
// quiet (TrimQuiet: whole 2.5 ms blocks, crossfaded), or, in audio that
// has no quiet point for a while (music, a noisy room), where it repeats
// itself (TrimAligned: whole periods, crossfaded). A queue bound (with a
// plain drop) and the jitter buffer's whole-frame shrink remain as the
// last resort.
//
// Both halves are plain objects driven by the caller's clock, so tests
// run them in fake time; none of them starts a goroutine.
//
// # Cost
//
// Measured on the 2-core development machine (Intel Xeon, Go 1.26,
// Debian's libopus 1.3.1): encoding a 20 ms frame takes about 0.35 ms
// (SILK at libopus's default complexity 9 with FEC; 0.05 ms at
// complexity 1), decoding 0.02 ms, and a Receiver tick (jitter buffer,
// decode, meter) 0.02 ms, so one call costs about 2 % of one core
// (go test -bench . ./call/audio/).
package audio
