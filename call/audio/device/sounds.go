package device

import (
	"bytes"
	"errors"
	"io"
	"math"
	"time"

	"github.com/parleynet/parley/call/audio"
)

// Names returns the names of infos, passing err through: for device
// choosers, as Names(CaptureDevices()).
func Names(infos []Info, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	names := make([]string, len(infos))
	for i, d := range infos {
		names[i] = d.Name
	}
	return names, nil
}

// PlayWAV plays wav in real time on the speakers named output (the
// default if empty) until it ends or, looped, until done closes.
func PlayWAV(wav []byte, loop bool, output string, done <-chan struct{}) error {
	src, err := audio.NewWAVSource(bytes.NewReader(wav), audio.WAVOptions{Loop: loop})
	if err != nil {
		return err
	}
	defer src.Close()
	out, err := OpenPlayback(output)
	if err != nil {
		return err
	}
	defer out.Close()
	frame := make([]int16, audio.FrameSamples)
	t := time.NewTicker(audio.FrameDuration)
	defer t.Stop()
	for {
		if err := src.ReadFrame(frame); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if err := out.WriteFrame(frame); err != nil {
			return err
		}
		select {
		case <-done:
			return nil
		case <-t.C:
		}
	}
}

// ToneCheck plays a 440 Hz tone on output for a second while it reads the
// microphone input, and returns the microphone's peak level (0 to 1): the
// settings' audio test.
func ToneCheck(input, output string) (float64, error) {
	mic, err := OpenCapture(input)
	if err != nil {
		return 0, err
	}
	defer mic.Close()
	out, err := OpenPlayback(output)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	tone := audio.NewToneSource(440, 0.3)
	in := make([]int16, audio.FrameSamples)
	buf := make([]int16, audio.FrameSamples)
	var peak float64
	for range time.Second / audio.FrameDuration {
		tone.ReadFrame(buf)
		if err := out.WriteFrame(buf); err != nil {
			return 0, err
		}
		if err := mic.ReadFrame(in); err != nil {
			return 0, err
		}
		for _, v := range in {
			peak = max(peak, math.Abs(float64(v))/32768)
		}
	}
	return peak, nil
}
