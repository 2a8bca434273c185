package device

import (
	"fmt"
	"time"

	"github.com/parleynet/parley/call/audio"
)

// PlayTestTone plays a 440 Hz tone for d on the output called name (as
// OpenPlayback takes it; "" is the default output), in real time, and
// returns once it has been handed to the device: a settings screen's
// "test the speakers".
func PlayTestTone(name string, d time.Duration) error {
	out, err := OpenPlayback(name)
	if err != nil {
		return err
	}
	defer out.Close()
	tone := audio.NewToneSource(440, 0.3)
	pcm := make([]int16, audio.FrameSamples)
	tick := time.NewTicker(audio.FrameDuration)
	defer tick.Stop()
	for n := 0; time.Duration(n)*audio.FrameDuration < d; n++ {
		tone.ReadFrame(pcm)
		if err := out.WriteFrame(pcm); err != nil {
			return fmt.Errorf("device: test tone: %w", err)
		}
		<-tick.C
	}
	// Let what is queued play out.
	time.Sleep(out.Buffered() + DeviceBuffer)
	return nil
}

// InputLevels captures from the microphone called name (as OpenCapture
// takes it; "" is the default) for d and calls level with the level of
// each 20 ms frame in dBFS (audio.Level): a settings screen's input
// meter before a call.
func InputLevels(name string, d time.Duration, level func(dBFS float64)) error {
	mic, err := OpenCapture(name)
	if err != nil {
		return err
	}
	defer mic.Close()
	pcm := make([]int16, audio.FrameSamples)
	for n := 0; time.Duration(n)*audio.FrameDuration < d; n++ {
		if err := mic.ReadFrame(pcm); err != nil {
			return fmt.Errorf("device: input level: %w", err)
		}
		level(audio.Level(pcm))
	}
	return nil
}
