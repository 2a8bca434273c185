//go:build unix

package app

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/parleynet/parley/call"
	"github.com/parleynet/parley/call/audio"
	"github.com/parleynet/parley/store"
)

// firstSound is a Sink that says when it is first given sound.
type firstSound struct {
	heard chan time.Time
	done  bool
}

func (f *firstSound) WriteFrame(pcm []int16) error {
	if !f.done && slices.ContainsFunc(pcm, func(v int16) bool { return v > 1000 || v < -1000 }) {
		f.done = true
		f.heard <- time.Now()
	}
	return nil
}

func (f *firstSound) Close() error { return nil }

// BenchmarkCallSetup measures, on loopback, the time from Dial to the first
// decoded audio frame at the callee, which answers by itself: one call per
// iteration, p50 and p95 reported.
//
//	go test -run '^$' -bench CallSetup -benchtime 30x ./app/
func BenchmarkCallSetup(b *testing.B) {
	seed := startSeedPeer(b, 1000)
	heard := make(chan time.Time, 1)
	alice := newChatUser(b, seed.peer.Addr(), "alice")
	bob := newChatUser(b, seed.peer.Addr(), "bob")
	alice.stop()
	bob.stop()
	alice.extra = func(o *Options) { o.Media = toneMedia(440, &capture{}) }
	bob.extra = func(o *Options) {
		o.AutoAnswer = true
		o.Media = audio.Media{
			Input:  func(call.Info) (audio.Source, error) { return audio.NewToneSource(660, 0.5), nil },
			Output: func(call.Info) (audio.Sink, error) { return &firstSound{heard: heard}, nil },
		}
	}
	alice.start()
	bob.start()
	ctx := context.Background()
	if _, err := alice.chat().AddContact(ctx, "bob", ""); err != nil {
		b.Fatal(err)
	}
	waitUntil(b, 10*time.Second, "request", func() bool { return bob.contact("alice").State == store.ContactIncoming })
	bob.chat().Accept(ctx, bob.contact("alice").ID)
	waitUntil(b, 10*time.Second, "accepted", func() bool { return alice.contact("bob").State == store.ContactAccepted })
	var setups []time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		ci, err := alice.run.peer.Call(ctx, "bob", CallOptions{})
		if err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-heard:
			setups = append(setups, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatal("no audio at the callee within 10 s")
		}
		id, err := alice.run.peer.callID(ci.ID)
		if err != nil {
			b.Fatal(err)
		}
		alice.run.peer.calls.Hangup(id)
		waitUntil(b, 10*time.Second, "call ended", func() bool { _, ok := alice.run.peer.calls.Call(id); return !ok })
		waitUntil(b, 10*time.Second, "bob free", func() bool { return len(bob.run.peer.calls.Calls()) == 0 })
	}
	b.StopTimer()
	slices.Sort(setups)
	p := func(q float64) time.Duration { return setups[min(len(setups)-1, int(q*float64(len(setups))))] }
	b.ReportMetric(float64(p(0.5).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(p(0.95).Milliseconds()), "p95-ms")
	b.Logf("call setup, dial to the first decoded frame at the callee, %d calls: p50 %v, p95 %v, max %v", len(setups), p(0.5), p(0.95), setups[len(setups)-1])
}

// BenchmarkCallCPU measures the CPU time of one call: both ends in this
// process, over loopback, for 10 s of tone each way, less the same 10 s of
// the two peers idle. Reported as a share of one core, per end.
//
//	go test -run '^$' -bench CallCPU -benchtime 1x ./app/
func BenchmarkCallCPU(b *testing.B) {
	seed := startSeedPeer(b, 1000)
	alice := newChatUser(b, seed.peer.Addr(), "alice")
	bob := newChatUser(b, seed.peer.Addr(), "bob")
	alice.stop()
	bob.stop()
	var heardA, heardB capture
	alice.extra = func(o *Options) { o.Media = toneMedia(440, &heardA) }
	bob.extra = func(o *Options) { o.Media = toneMedia(660, &heardB); o.AutoAnswer = true }
	alice.start()
	bob.start()
	ctx := context.Background()
	alice.chat().AddContact(ctx, "bob", "")
	waitUntil(b, 10*time.Second, "request", func() bool { return bob.contact("alice").State == store.ContactIncoming })
	bob.chat().Accept(ctx, bob.contact("alice").ID)
	waitUntil(b, 10*time.Second, "accepted", func() bool { return alice.contact("bob").State == store.ContactAccepted })
	const d = 10 * time.Second
	idle0 := cpuTime()
	time.Sleep(d)
	idle := cpuTime() - idle0
	b.ResetTimer()
	var busy time.Duration
	var ci CallInfo
	for range b.N {
		c0 := cpuTime()
		var err error
		ci, err = alice.run.peer.CallFor(ctx, "bob", CallOptions{}, d)
		if err != nil {
			b.Fatal(err)
		}
		busy = cpuTime() - c0
	}
	b.StopTimer()
	perEnd := float64(busy-idle) / 2 / float64(d) * 100
	b.ReportMetric(perEnd, "%cpu/end")
	b.Logf("a %.1f s call: CPU %v (idle peers: %v over %v): %.1f%% of one core per end; %d packets sent, %d received",
		ci.Seconds, busy, idle, d, perEnd, ci.Sent, ci.Received)
}
