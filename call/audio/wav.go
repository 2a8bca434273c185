package audio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	goaudio "github.com/go-audio/audio"
	"github.com/go-audio/wav"
)

// WAV files are parsed and written with github.com/go-audio/wav. Its
// reader finds the fmt and data chunks (skipping LIST, bext and the
// like); the samples are then read here, bounded by the data chunk's
// size, since go-audio would read past it into trailing chunks.

// WAVOptions sets up a WAVSource.
type WAVOptions struct {
	// Loop restarts the file at its end instead of returning io.EOF.
	Loop bool
}

// WAVSource reads an integer PCM WAV file (8, 16, 24 or 32 bits, any
// channel count and sample rate) as 48 kHz mono frames: channels are
// averaged and other rates resampled. It returns at once; the caller
// paces it.
type WAVSource struct {
	r      io.ReadSeeker
	closer io.Closer
	opts   WAVOptions

	rate, channels, bits int
	dataStart, dataLen   int64 // dataLen < 0: to the end of the file

	in       *bufio.Reader
	sample   []byte // one input frame (all channels)
	rs       *resampler
	pulled   int64 // input frames read since the last rewind
	done     bool  // the input has ended (and is not looped)
	err      error // a read error, reported after the samples before it
	closed   bool
	pullFunc func() (float64, bool)
}

// OpenWAVSource opens the WAV file at path.
func OpenWAVSource(path string, opts WAVOptions) (*WAVSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audio: wav source: %w", err)
	}
	s, err := NewWAVSource(f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// NewWAVSource reads a WAV file from r. Close closes r if it is an
// io.Closer.
func NewWAVSource(r io.ReadSeeker, opts WAVOptions) (*WAVSource, error) {
	d := wav.NewDecoder(r)
	d.ReadInfo()
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedWAV, err)
	}
	if err := d.FwdToPCM(); err != nil || d.PCMChunk == nil {
		return nil, fmt.Errorf("%w: no data chunk (%v)", ErrUnsupportedWAV, err)
	}
	const (
		formatPCM        = 1
		formatExtensible = 0xFFFE
	)
	s := &WAVSource{
		r:        r,
		opts:     opts,
		rate:     int(d.SampleRate),
		channels: int(d.NumChans),
		bits:     int(d.BitDepth),
	}
	switch {
	case d.WavAudioFormat != formatPCM && d.WavAudioFormat != formatExtensible:
		return nil, fmt.Errorf("%w: format tag %#x is not integer PCM", ErrUnsupportedWAV, d.WavAudioFormat)
	case d.WavAudioFormat == formatExtensible && s.bits == 32:
		// go-audio does not read the subformat; 32-bit extensible files
		// are nearly always float.
		return nil, fmt.Errorf("%w: 32-bit WAVE_FORMAT_EXTENSIBLE (float?)", ErrUnsupportedWAV)
	case s.bits != 8 && s.bits != 16 && s.bits != 24 && s.bits != 32:
		return nil, fmt.Errorf("%w: %d bits per sample", ErrUnsupportedWAV, s.bits)
	case s.channels < 1 || s.channels > 32:
		return nil, fmt.Errorf("%w: %d channels", ErrUnsupportedWAV, s.channels)
	case s.rate < 1000 || s.rate > 768000:
		return nil, fmt.Errorf("%w: sample rate %d Hz", ErrUnsupportedWAV, s.rate)
	}
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("audio: wav source: %w", err)
	}
	s.dataStart = start
	// A size of 0 (or 0xFFFFFFFF, which go-audio rounds up to 0) is what
	// streaming writers and crashed recordings leave: read to the end.
	s.dataLen = int64(uint32(d.PCMSize))
	if s.dataLen == 0 {
		s.dataLen = -1
	}
	if c, ok := r.(io.Closer); ok {
		s.closer = c
	}
	s.sample = make([]byte, s.channels*s.bits/8)
	if s.rate != SampleRate {
		s.rs = newResampler(s.rate, SampleRate)
	}
	s.pullFunc = s.pull
	s.in = bufio.NewReaderSize(nil, 16<<10)
	if err := s.rewind(); err != nil {
		return nil, err
	}
	return s, nil
}

// Format returns the file's own sample rate, channel count and bits per
// sample.
func (s *WAVSource) Format() (rate, channels, bits int) { return s.rate, s.channels, s.bits }

// rewind goes back to the first sample.
func (s *WAVSource) rewind() error {
	if _, err := s.r.Seek(s.dataStart, io.SeekStart); err != nil {
		return fmt.Errorf("audio: wav source: %w", err)
	}
	var rd io.Reader = s.r
	if s.dataLen >= 0 {
		rd = io.LimitReader(s.r, s.dataLen)
	}
	s.in.Reset(rd)
	s.pulled = 0
	return nil
}

// pull returns the next input frame mixed to mono, in int16 units.
func (s *WAVSource) pull() (float64, bool) {
	for {
		_, err := io.ReadFull(s.in, s.sample)
		if err == nil {
			break
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			s.err = fmt.Errorf("audio: wav source: %w", err)
			return 0, false
		}
		// The end (a partial last frame is dropped).
		if !s.opts.Loop || s.pulled == 0 {
			return 0, false
		}
		if err := s.rewind(); err != nil {
			s.err = err
			return 0, false
		}
	}
	s.pulled++
	var sum float64
	b := s.sample
	for c := 0; c < s.channels; c++ {
		switch s.bits {
		case 8: // unsigned
			sum += float64(int(b[0])-128) * 256
			b = b[1:]
		case 16:
			sum += float64(int16(binary.LittleEndian.Uint16(b)))
			b = b[2:]
		case 24:
			v := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
			sum += float64(v) / 256
			b = b[3:]
		case 32:
			sum += float64(int32(binary.LittleEndian.Uint32(b))) / 65536
			b = b[4:]
		}
	}
	return sum / float64(s.channels), true
}

// ReadFrame fills pcm with the next frame. At the end of a file that does
// not loop, the last frame is padded with silence and the next call
// returns io.EOF.
func (s *WAVSource) ReadFrame(pcm []int16) error {
	if s.closed {
		return ErrClosed
	}
	if err := checkFrame(pcm); err != nil {
		return err
	}
	if s.done {
		if s.err != nil {
			return s.err
		}
		return io.EOF
	}
	for i := range pcm {
		var v float64
		var ok bool
		if s.rs == nil {
			v, ok = s.pull()
		} else {
			v, ok = s.rs.next(s.pullFunc)
		}
		if !ok {
			s.done = true
			if i == 0 {
				if s.err != nil {
					return s.err
				}
				return io.EOF
			}
			clear(pcm[i:])
			return nil
		}
		pcm[i] = clip16(v)
	}
	return nil
}

// clip16 rounds v to the nearest int16, saturating.
func clip16(v float64) int16 {
	v = math.Round(v)
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}

// Close closes the underlying reader if it is an io.Closer.
func (s *WAVSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

// wavHeaderSize is the size of the canonical header go-audio writes: RIFF
// and WAVE ids, a 16-byte fmt chunk and the data chunk's id and size.
const (
	wavHeaderSize = 44
	wavRIFFSize   = 4  // offset of the RIFF chunk size
	wavDataID     = 36 // offset of "data"
	wavDataSize   = 40 // offset of the data chunk size
	// wavFixEvery: the header's sizes are brought up to date every this
	// many frames (1 s), so a recording cut short by a crash stays a
	// valid file missing at most its last second (WAVSource itself reads
	// it to the end).
	wavFixEvery = 50
)

// WAVSink writes frames to a 48 kHz mono 16-bit PCM WAV file.
//
// The header is valid from the start and its sizes are updated every
// second and on Close, so a file whose writer crashed plays up to its
// last update in any player. Close may be called after failed writes and
// more than once; it fixes the header as far as it can and closes the
// file. A WAVSink is not safe for concurrent use.
type WAVSink struct {
	f        *os.File
	enc      *wav.Encoder
	buf      goaudio.IntBuffer
	sinceFix int
	closed   bool
}

// CreateWAVSink creates (or truncates) the file at path.
func CreateWAVSink(path string) (*WAVSink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("audio: wav sink: %w", err)
	}
	s := &WAVSink{
		f:   f,
		enc: wav.NewEncoder(f, SampleRate, 16, Channels, 1),
		buf: goaudio.IntBuffer{
			Format:         &goaudio.Format{NumChannels: Channels, SampleRate: SampleRate},
			Data:           make([]int, FrameSamples),
			SourceBitDepth: 16,
		},
	}
	// Writing no samples writes the header and the data chunk's header.
	empty := s.buf
	empty.Data = nil
	if err := s.enc.Write(&empty); err != nil {
		f.Close()
		return nil, fmt.Errorf("audio: wav sink header: %w", err)
	}
	var id [4]byte
	if _, err := f.ReadAt(id[:], wavDataID); err != nil || string(id[:]) != "data" || s.enc.WrittenBytes != wavHeaderSize {
		f.Close()
		return nil, fmt.Errorf("audio: wav sink: unexpected header layout from go-audio/wav (%d bytes)", s.enc.WrittenBytes)
	}
	if err := s.fixHeader(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// WriteFrame appends one frame.
func (s *WAVSink) WriteFrame(pcm []int16) error {
	if s.closed {
		return ErrClosed
	}
	if err := checkFrame(pcm); err != nil {
		return err
	}
	for i, v := range pcm {
		s.buf.Data[i] = int(v)
	}
	if err := s.enc.Write(&s.buf); err != nil {
		return fmt.Errorf("audio: wav sink: %w", err)
	}
	if s.sinceFix++; s.sinceFix >= wavFixEvery {
		s.sinceFix = 0
		return s.fixHeader()
	}
	return nil
}

// fixHeader writes the RIFF and data sizes for what the file holds now,
// without moving the write offset.
func (s *WAVSink) fixHeader() error {
	end, err := s.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("audio: wav sink: %w", err)
	}
	data := (end - wavHeaderSize) &^ 1 // whole samples only
	if data < 0 {
		data = 0
	}
	if data > math.MaxUint32-wavHeaderSize {
		data = (math.MaxUint32 - wavHeaderSize) &^ 1
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(wavHeaderSize-8+data))
	if _, err := s.f.WriteAt(b[:], wavRIFFSize); err != nil {
		return fmt.Errorf("audio: wav sink header: %w", err)
	}
	binary.LittleEndian.PutUint32(b[:], uint32(data))
	if _, err := s.f.WriteAt(b[:], wavDataSize); err != nil {
		return fmt.Errorf("audio: wav sink header: %w", err)
	}
	return nil
}

// Close brings the header up to date, syncs and closes the file. Later
// calls return nil.
func (s *WAVSink) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.fixHeader()
	if serr := s.f.Sync(); err == nil && serr != nil {
		err = fmt.Errorf("audio: wav sink: %w", serr)
	}
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("audio: wav sink: %w", cerr)
	}
	return err
}
