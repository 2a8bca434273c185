package parleycli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/parleynet/parley/call"
	"github.com/parleynet/parley/call/audio"
	"github.com/parleynet/parley/call/audio/device"
)

// callAudio makes calls' microphones and speakers: the peer's --play and
// --record files if given, else the sound devices chosen in the settings
// (or flags). A call dialled with files of its own ('parley call --play')
// gets fileMedia instead.
type callAudio struct {
	play, record string // the peer's files, if any

	mu            sync.Mutex
	input, output string // guarded by mu: device names (empty: the default)
}

// media returns the peer's call.Media.
func (a *callAudio) media() call.Media {
	return audio.Media{Input: a.in, Output: a.out}
}

// ready says whether calls without files of their own have audio: the
// peer's --play, or a microphone.
func (a *callAudio) ready() error {
	if a.play != "" || a.record != "" {
		return nil
	}
	devs, err := device.CaptureDevices()
	if err != nil {
		return err
	}
	if len(devs) == 0 {
		return fmt.Errorf("no microphone; give --play and --record to call with WAV files")
	}
	return nil
}

// fileMedia is the media of one call that plays and records files (app's
// Options.FileMedia): play is a WAV file or tone:HZ (silence if empty),
// record a WAV file (nothing heard if empty).
func fileMedia(play, record string) (call.Media, error) {
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

func (a *callAudio) in(call.Info) (audio.Source, error) {
	if a.play != "" || a.record != "" {
		return fileSource(a.play)
	}
	a.mu.Lock()
	input := a.input
	a.mu.Unlock()
	src, err := device.OpenCapture(input)
	if err != nil {
		return nil, errors.Join(errNoAudio, err)
	}
	return src, nil
}

func (a *callAudio) out(call.Info) (audio.Sink, error) {
	if a.play != "" || a.record != "" {
		return fileSink(a.record)
	}
	a.mu.Lock()
	output := a.output
	a.mu.Unlock()
	out, err := device.OpenPlayback(output)
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
