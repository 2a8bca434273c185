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
	"github.com/parleynet/parley/store"
)

// callAudio chooses each call's microphone and speaker: the WAV files that
// 'parley call --play/--record' named for it, else the daemon's own
// --play/--record, else the sound card.
type callAudio struct {
	play, record string // the daemon's files, if any

	mu            sync.Mutex
	input, output string              // guarded by mu: device names (empty: the default)
	next          map[int64][2]string // per contact: files for the next outgoing call
}

// media returns the call.Media of the daemon.
func (a *callAudio) media() call.Media {
	a.next = make(map[int64][2]string)
	return audio.Media{Input: a.in, Output: a.out}
}

// ready says whether calls without files of their own have audio: the
// daemon's --play, or a microphone.
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

// prepare names the files of the next outgoing call to contactID.
func (a *callAudio) prepare(contactID int64, play, record string) error {
	if _, ok := toneFreq(play); !ok && play != "" {
		f, err := os.Open(play)
		if err != nil {
			return fmt.Errorf("--play: %w", err)
		}
		f.Close()
	}
	a.mu.Lock()
	a.next[contactID] = [2]string{play, record}
	a.mu.Unlock()
	return nil
}

// files returns the files of call i: for an outgoing call prepared by
// 'parley call', those; done uses them up (audio.Media asks for the input
// first, then the output).
func (a *callAudio) files(i call.Info, done bool) (play, record string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if f, ok := a.next[i.ContactID]; ok && i.Direction == store.Outgoing {
		if done {
			delete(a.next, i.ContactID)
		}
		return f[0], f[1]
	}
	return a.play, a.record
}

func (a *callAudio) in(i call.Info) (audio.Source, error) {
	play, record := a.files(i, false)
	if hz, ok := toneFreq(play); ok {
		return audio.NewToneSource(hz, 0.3), nil
	}
	if play != "" {
		return audio.OpenWAVSource(play, audio.WAVOptions{Loop: true})
	}
	if record != "" {
		return audio.NewToneSource(0, 0), nil // recording only: send silence
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

func (a *callAudio) out(i call.Info) (audio.Sink, error) {
	play, record := a.files(i, true)
	switch {
	case record != "":
		return audio.CreateWAVSink(record)
	case play != "":
		return audio.NullSink{}, nil // headless: playing a file, hearing nothing
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
