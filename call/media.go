package call

// Media makes the audio of established calls. The audio pipeline
// (call/audio's Sender and Receiver) is one; tests use fakes.
type Media interface {
	// Open is called once a call is established (DTLS up, the other end's
	// certificate checked), with a description of it. The call then sends
	// what the Source gives and pushes what arrives into the Sink, until it
	// ends; then it closes each of them that is an io.Closer. An error
	// ends the call (ErrFailed).
	Open(Info) (Source, Sink, error)
}

// Source gives the Opus packets to send.
type Source interface {
	// NextPacket returns the next 20 ms Opus packet. The call's send loop
	// calls it every 20 ms, from one goroutine; a source that blocks until
	// its frame is captured paces the loop itself. An empty packet is a
	// frame DTX left out (the RTP timestamp moves on, nothing is sent);
	// io.EOF ends the sending (the call goes on, silent); another error
	// skips the frame.
	NextPacket() ([]byte, error)
}

// Sink takes the RTP packets received.
type Sink interface {
	// Push takes one RTP packet of the other end: sequence number,
	// timestamp (48 kHz) and Opus payload, which it may keep. It is called
	// from one goroutine, as packets arrive, and must not block.
	Push(seq uint16, ts uint32, payload []byte)
}

// Paced is a Source that may pace itself: when Paced reports true (a
// microphone, whose NextPacket blocks until the sound card has captured
// the frame), the send loop asks for the next packet as soon as it has
// sent one instead of waiting for its own 20 ms clock. Waiting on a
// clock of its own would hold each captured frame back by up to 20 ms,
// and audio captured before the loop started would stay queued for the
// whole call. The audio pipeline's Sender is one.
type Paced interface {
	Paced() bool
}

// Muter is a Source that can be muted: it then sends silence. The audio
// pipeline's Sender is one.
type Muter interface {
	SetMuted(muted bool)
	Muted() bool
}

// Leveler is a Source or Sink that reports the level of its last frame,
// in dBFS, for a meter.
type Leveler interface {
	Level() float64
}
