package call

import "time"

// Clock is the time the Manager logs calls with and runs its ring and
// connect timers on. The audio send loop, keepalives and the silence
// watchdog run on real time: they pace real packets.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer of a Clock.
type Timer interface {
	// Stop stops the timer; it reports whether it was still pending.
	Stop() bool
}

// realClock is the system's clock.
type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
