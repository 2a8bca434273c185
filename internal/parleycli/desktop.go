package parleycli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/parleynet/parley/app"
	"github.com/parleynet/parley/assets"
	"github.com/parleynet/parley/call/audio/device"
	"github.com/parleynet/parley/internal/cli"
	"github.com/parleynet/parley/ui"
)

// processStart is when the process started, for the start-up time.
var processStart = time.Now()

// desktopCmd is 'parley' with no subcommand: the desktop window. Its flags
// are the root's (fs), so that they sit beside the global ones.
func desktopCmd(e *env, fs *flag.FlagSet) *ffcli.Command {
	minimized := fs.Bool("minimized", false, "start the desktop app in the tray, without its window (start at login)")
	play := fs.String("play", "", "desktop app without a sound card: a WAV file or tone:HZ to send in calls instead of the microphone")
	record := fs.String("record", "", "desktop app without a sound card: a WAV file to record calls into instead of playing them")
	listen := fs.String("listen", "", "desktop app: the overlay address (TCP and UDP) to offer as a supernode, host:port (default :4717)")
	return &ffcli.Command{
		Name:       "parley",
		ShortUsage: "parley [--profile DIR] [--seeds ADDR,...] [<subcommand>]",
		ShortHelp:  "Parley: peer-to-peer messaging and calls. With no subcommand, opens the window.",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return cli.UsageError{Err: fmt.Errorf("unknown subcommand %q (see parley --help)", args[0])}
			}
			dir, seeds, err := e.profileAndSeeds()
			if err != nil {
				return err
			}
			log, err := cli.Logger(e.stderr, e.logLevel)
			if err != nil {
				return err
			}
			r := device.NewRouter(*play, *record)
			opts := app.Options{Seeds: seeds, Listen: *listen, Logger: log, Media: r.Media(), AudioReady: r.Ready, FileMedia: device.FileMedia}
			return runDesktop(ctx, dir, opts, e.seeds != "", *minimized, r)
		},
	}
}

// runDesktop opens the desktop window on profile dir: calls use the sound
// devices chosen in the settings, unless r has files for them.
func runDesktop(ctx context.Context, dir string, opts app.Options, seedsGiven, minimized bool, r *device.Router) error {
	log := opts.Logger
	return ui.Run(ctx, ui.Config{
		ProfileDir: dir,
		Options:    opts,
		Control:    true,
		SeedsGiven: seedsGiven,
		Minimized:  minimized,
		OnReady: func() {
			log.Info("main window ready", "since_start", time.Since(processStart).Round(time.Millisecond).String())
		},
		ApplySettings: func(s app.Settings) { r.SetDevices(s.InputDevice, s.OutputDevice) },
		Desktop: ui.Desktop{
			PlaySound:     func(name string, loop bool) func() { return playSound(name, loop, r.Output(), log) },
			InputDevices:  func() ([]string, error) { return device.Names(device.CaptureDevices()) },
			OutputDevices: func() ([]string, error) { return device.Names(device.PlaybackDevices()) },
			TestAudio:     device.ToneCheck,
		},
	})
}

// playSound plays a bundled sound (ring or message) on output, looped
// until stop is called if loop, in the background. Without a sound card
// it plays nothing.
func playSound(name string, loop bool, output string, log *slog.Logger) (stop func()) {
	wav := assets.MessageWAV
	if name == "ring" {
		wav = assets.RingtoneWAV
	}
	done := make(chan struct{})
	go func() {
		if err := device.PlayWAV(wav, loop, output, done); err != nil {
			log.Debug("sound not played", "sound", name, "err", err)
		}
	}()
	return sync.OnceFunc(func() { close(done) })
}
