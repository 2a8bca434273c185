package call

import (
	"errors"
	"io"
	"time"

	"github.com/parleynet/parley/overlay/wire"
	"github.com/parleynet/parley/rtc"
)

// startMedia starts the audio and the watchdog of a call that just
// connected. Opening the media (the audio devices) may take a moment, so
// it happens off the loop.
func (m *Manager) startMedia(c *call, sess *rtc.Session) {
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		m.watch(c, sess)
	}()
	info, media := c.info(), c.media
	if media == nil {
		media = m.cfg.Media
	}
	go func() {
		defer m.wg.Done()
		src, sink, err := media.Open(info)
		if err != nil {
			m.post(func() {
				if c.state == StateActive {
					m.fail(c, "no audio: "+err.Error(), errors.Join(ErrFailed, err))
				}
			})
			return
		}
		select {
		case <-c.stop:
			closeIfCloser(src)
			closeIfCloser(sink)
			return
		default:
		}
		c.sink.Store(&sink)
		c.src.Store(&src)
		select {
		case <-c.stop:
			// finish may have swapped the sink out before we stored it.
			if p := c.sink.Swap(nil); p != nil {
				closeIfCloser(*p)
			}
		default:
		}
		m.sendAudio(c, sess, src)
	}()
}

// sendAudio sends what src gives, one packet every 20 ms, until the call
// ends, and closes src. A Paced source sets the pace: each packet is
// sent as soon as it is captured.
func (m *Manager) sendAudio(c *call, sess *rtc.Session, src Source) {
	defer closeIfCloser(src)
	paced := false
	if p, ok := src.(Paced); ok {
		paced = p.Paced()
	}
	tick := time.NewTicker(rtc.FrameDuration)
	defer tick.Stop()
	wait := !paced
	for {
		if wait {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
		} else {
			select {
			case <-c.stop:
				return
			default:
			}
		}
		pkt, err := src.NextPacket()
		// A paced source that fails may fail at once again: wait for
		// the clock before the next try rather than spin.
		wait = !paced || err != nil
		switch {
		case errors.Is(err, io.EOF):
			m.log.Debug("audio source ended", "call", c.id.short())
			<-c.stop
			return
		case err != nil:
			m.log.Debug("audio frame skipped", "call", c.id.short(), "err", err)
			continue
		}
		switch err := sess.WriteAudio(pkt, rtc.FrameDuration); {
		case err == nil:
			if len(pkt) > 0 {
				c.sent.Add(1)
			}
		case errors.Is(err, rtc.ErrClosed):
			return
		default:
			// No path for a moment (an ICE restart): the packet is lost.
			m.log.Debug("audio packet not sent", "call", c.id.short(), "err", err)
		}
	}
}

// watch keeps call c alive and watches that the other end does: it sends
// a keepalive on the data channel every KeepaliveInterval; restarts ICE
// when nothing came for RestartAfter (the network may have changed), and
// again at most that often; and ends the call (ErrVanished) when nothing
// came for MediaTimeout. Nothing means no audio packet and no message:
// audio alone would not do, since DTX sends next to nothing in a pause.
func (m *Manager) watch(c *call, sess *rtc.Session) {
	tick := time.NewTicker(watchTick)
	defer tick.Stop()
	var lastPing, lastRestart time.Time
	for {
		select {
		case <-c.stop:
			return
		case now := <-tick.C:
			if now.Sub(lastPing) >= m.cfg.KeepaliveInterval {
				lastPing = now
				sendOnChannel(sess, channelMessage{Type: msgPing})
			}
			silence := c.silence(now)
			switch {
			case silence >= m.cfg.MediaTimeout:
				m.post(func() { m.onVanished(c, silence) })
				return
			case silence >= m.cfg.RestartAfter && now.Sub(lastRestart) >= m.cfg.RestartAfter:
				lastRestart = now
				m.log.Info("nothing heard; restarting ICE", "call", c.id.short(), "silence", silence.Round(time.Millisecond))
				if err := sess.RestartICE(); err != nil {
					m.log.Debug("ICE restart", "call", c.id.short(), "err", err)
				}
			}
		}
	}
}

// sendOnChannel sends msg on sess's data channel, from any goroutine, if
// the channel is open.
func sendOnChannel(sess *rtc.Session, msg channelMessage) {
	if b, err := encodeChannelMessage(msg); err == nil {
		sess.Send(b)
	}
}

// closeIfCloser closes v if it is an io.Closer.
func closeIfCloser(v any) {
	if cl, ok := v.(io.Closer); ok {
		cl.Close()
	}
}

func encodeChannelMessage(msg channelMessage) ([]byte, error) { return wire.Marshal(msg) }

func decodeChannelMessage(b []byte) (channelMessage, error) {
	var msg channelMessage
	if len(b) > 64 {
		return msg, ErrMalformed
	}
	err := wire.Unmarshal(b, &msg)
	return msg, err
}
