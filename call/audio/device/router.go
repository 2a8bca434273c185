package device

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/parleynet/parley/call"
	"github.com/parleynet/parley/call/audio"
)

// Router routes calls' microphones and speakers: to the peer's play and
// record files if it has them (a headless peer's --play and --record),
// else to the sound devices chosen in the settings or by flags. A call
// dialled with files of its own ('parley call --play') gets FileMedia
// instead.
type Router struct {
	play, record string // the peer's files, if any

	mu            sync.Mutex
	input, output string // guarded by mu: device names (empty: the default)
}

// NewRouter returns a Router; play and record as for FileMedia (both
// empty: the devices).
func NewRouter(play, record string) *Router { return &Router{play: play, record: record} }

// SetDevices chooses the microphone and the speakers by name (or part of
// one; empty: the system's default) for the calls to come.
func (a *Router) SetDevices(input, output string) {
	a.mu.Lock()
	a.input, a.output = input, output
	a.mu.Unlock()
}

// Output returns the speakers chosen (empty: the system's default).
func (a *Router) Output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.output
}

// Media returns the calls' media through the router.
func (a *Router) Media() call.Media {
	return audio.Media{Input: a.in, Output: a.out}
}

// Ready says whether calls without files of their own have audio: the
// peer's play file, or a microphone.
func (a *Router) Ready() error {
	if a.play != "" || a.record != "" {
		return nil
	}
	devs, err := CaptureDevices()
	if err != nil {
		return err
	}
	if len(devs) == 0 {
		return fmt.Errorf("no microphone; give --play and --record to call with WAV files")
	}
	return nil
}

// FileMedia is the media of one call that plays and records files (app's
// Options.FileMedia): play is a WAV file or tone:HZ (silence if empty),
// record a WAV file (nothing heard if empty).
func FileMedia(play, record string) (call.Media, error) {
	if _, ok := toneFreq(play); !ok && play != "" {
		f, err := os.Open(play)
		if err != nil {
			return nil, fmt.Errorf("--play: %w", err)
		}
		f.Close()
	}
	return audio.Media{
		Input:  func(call.Info) (audio.Source, error) { return fileSource(play) },
		Output: func(call.Info) (audio.Sink, error) { return fileSink(record) },
	}, nil
}

// fileSource sends play: a tone, a WAV file looped, or silence.
func fileSource(play string) (audio.Source, error) {
	if hz, ok := toneFreq(play); ok {
		return audio.NewToneSource(hz, 0.3), nil
	}
	if play != "" {
		return audio.OpenWAVSource(play, audio.WAVOptions{Loop: true})
	}
	return audio.NewToneSource(0, 0), nil
}

// fileSink records into record, or hears nothing.
func fileSink(record string) (audio.Sink, error) {
	if record != "" {
		return audio.CreateWAVSink(record)
	}
	return audio.NullSink{}, nil
}

func (a *Router) in(call.Info) (audio.Source, error) {
	if a.play != "" || a.record != "" {
		return fileSource(a.play)
	}
	a.mu.Lock()
	input := a.input
	a.mu.Unlock()
	src, err := OpenCapture(input)
	if err != nil {
		return nil, errors.Join(errNoAudio, err)
	}
	return src, nil
}

func (a *Router) out(call.Info) (audio.Sink, error) {
	if a.play != "" || a.record != "" {
		return fileSink(a.record)
	}
	a.mu.Lock()
	output := a.output
	a.mu.Unlock()
	out, err := OpenPlayback(output)
	if err != nil {
		return nil, errors.Join(errNoAudio, err)
	}
	return out, nil
}

var errNoAudio = errors.New("calls need an audio device")

// toneFreq reads a --play value of the form "tone:HZ".
func toneFreq(play string) (float64, bool) {
	v, ok := strings.CutPrefix(play, "tone:")
	if !ok {
		return 0, false
	}
	hz, err := strconv.ParseFloat(v, 64)
	return hz, err == nil && hz > 0 && hz < audio.SampleRate/2
}
