package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/assets"
	"github.com/parleynet/parley/call/audio"
	"github.com/parleynet/parley/call/audio/device"
	"github.com/parleynet/parley/overlay"
	"github.com/parleynet/parley/ui"
)

// processStart is when the process started, for the start-up time.
var processStart = time.Now()

// runDesktop opens the desktop window on profile dir: calls use the sound
// devices chosen in the settings.
// play and record, if set, replace the microphone and speakers with files
// (or a tone), for machines without a sound card.
func runDesktop(ctx context.Context, dir string, seeds []overlay.SeedAddr, seedsGiven, minimized bool, play, record, listen string, log *slog.Logger) error {
	ca := &callAudio{play: play, record: record}
	opts := app.Options{Seeds: seeds, Listen: listen, Control: true, Logger: log, Media: ca.media(), AudioReady: ca.ready, PrepareCall: ca.prepare}
	return ui.Run(ctx, ui.Config{
		ProfileDir: dir,
		Options:    opts,
		SeedsGiven: seedsGiven,
		Minimized:  minimized,
		OnReady: func() {
			log.Info("main window ready", "since_start", time.Since(processStart).Round(time.Millisecond).String())
		},
		ApplySettings: func(s app.Settings) {
			ca.mu.Lock()
			ca.input, ca.output = s.InputDevice, s.OutputDevice
			ca.mu.Unlock()
		},
		Desktop: ui.Desktop{
			PlaySound: func(name string, loop bool) func() {
				ca.mu.Lock()
				out := ca.output
				ca.mu.Unlock()
				return playSound(name, loop, out, log)
			},
			InputDevices:  func() ([]string, error) { return deviceNames(device.CaptureDevices()) },
			OutputDevices: func() ([]string, error) { return deviceNames(device.PlaybackDevices()) },
			TestAudio:     testAudio,
		},
	})
}

func deviceNames(infos []device.Info, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	names := make([]string, len(infos))
	for i, d := range infos {
		names[i] = d.Name
	}
	return names, nil
}

// playSound plays a bundled sound on output (looped until stop is called,
// if loop) in the background. Without a sound card it plays nothing.
func playSound(name string, loop bool, output string, log *slog.Logger) (stop func()) {
	wav := assets.MessageWAV
	if name == "ring" {
		wav = assets.RingtoneWAV
	}
	done := make(chan struct{})
	go func() {
		if err := playWAV(wav, loop, output, done); err != nil {
			log.Debug("sound not played", "sound", name, "err", err)
		}
	}()
	return sync.OnceFunc(func() { close(done) })
}

// playWAV plays wav in real time on output until it ends (or, looped,
// until done closes).
func playWAV(wav []byte, loop bool, output string, done <-chan struct{}) error {
	src, err := audio.NewWAVSource(bytes.NewReader(wav), audio.WAVOptions{Loop: loop})
	if err != nil {
		return err
	}
	defer src.Close()
	out, err := device.OpenPlayback(output)
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

// testAudio plays a 440 Hz tone on output for a second while it reads the
// microphone input, and returns the microphone's peak level.
func testAudio(input, output string) (float64, error) {
	mic, err := device.OpenCapture(input)
	if err != nil {
		return 0, err
	}
	defer mic.Close()
	out, err := device.OpenPlayback(output)
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
