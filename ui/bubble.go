package ui

import (
	"fmt"
	"image/color"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/parleynet/parley/app"
)

// bubbleShare is the part of the row's width a message may take.
const bubbleShare = 0.75

// bubble is one row of a conversation: a message, left (theirs) or
// right (the user's), or a call, centred.
type bubble struct {
	widget.BaseWidget
	bg         *canvas.Rectangle
	text       *widget.Label
	meta       *widget.Label
	side       int // -1 left, 0 centre, 1 right
	lastHeight float32
}

func newBubble() *bubble {
	b := &bubble{
		bg:   canvas.NewRectangle(color.Transparent),
		text: widget.NewLabel(""),
		meta: widget.NewLabel(""),
	}
	b.bg.CornerRadius = theme.InputRadiusSize() * 2
	b.text.Wrapping = fyne.TextWrapWord
	b.meta.SizeName = theme.SizeNameCaptionText
	b.meta.Importance = widget.LowImportance
	b.ExtendBaseWidget(b)
	return b
}

func (b *bubble) set(it item) {
	switch {
	case it.msg != nil:
		m := it.msg
		b.text.SetText(m.Body)
		b.text.Alignment = fyne.TextAlignLeading
		b.meta.SetText(messageMeta(*m))
		if m.Incoming {
			b.side = -1
			b.bg.FillColor = theme.Color(theme.ColorNameInputBackground)
		} else {
			b.side = 1
			b.bg.FillColor = outgoingColor()
		}
	default:
		b.side = 0
		b.text.SetText(callText(*it.call))
		b.text.Alignment = fyne.TextAlignCenter
		b.meta.SetText(it.call.Started.Local().Format("Mon 2 Jan 15:04"))
		b.bg.FillColor = color.Transparent
		if it.call.Outcome == "missed" || it.call.Outcome == "failed" {
			b.text.Importance = widget.DangerImportance
		} else {
			b.text.Importance = widget.MediumImportance
		}
	}
	if it.msg != nil {
		b.text.Importance = widget.MediumImportance
	}
	b.bg.Refresh()
	b.text.Refresh()
	b.Refresh()
}

func outgoingColor() color.Color {
	c := theme.Color(theme.ColorNamePrimary)
	r, g, bl, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(bl >> 8), A: 0x40}
}

// messageMeta is the line under a message: its time and, for the
// user's own, how far it got.
func messageMeta(m app.MessageInfo) string {
	t := m.Sent.Local()
	s := t.Format("15:04")
	if since(t) > 24*time.Hour {
		s = t.Format("Mon 2 Jan 15:04")
	}
	if !m.Incoming {
		switch m.State {
		case "pending":
			s += " · sending"
		case "sent":
			s += " · sent ✓"
		case "delivered":
			s += " · delivered ✓✓"
		case "read":
			s += " · read ✓✓"
		case "failed":
			s += " · not delivered"
		}
	}
	return s
}

// callText describes a call of the log.
func callText(c app.CallLogEntry) string {
	dir := "Outgoing call"
	if c.Incoming {
		dir = "Incoming call"
	}
	switch c.Outcome {
	case "":
		return dir + " · going on"
	case "answered":
		return fmt.Sprintf("%s · %s", dir, formatDuration(c.Duration()))
	case "missed":
		if c.Incoming {
			return "Missed call"
		}
		return dir + " · no answer"
	case "declined":
		return dir + " · declined"
	case "busy":
		return dir + " · busy"
	case "cancelled":
		if c.Incoming {
			return "Missed call"
		}
		return dir + " · cancelled"
	}
	if c.Reason != "" {
		return dir + " · failed: " + c.Reason
	}
	return dir + " · failed"
}

func formatDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func (b *bubble) CreateRenderer() fyne.WidgetRenderer {
	return &bubbleRenderer{b: b}
}

type bubbleRenderer struct{ b *bubble }

func (r *bubbleRenderer) Layout(size fyne.Size) {
	b := r.b
	w := size.Width
	if b.side != 0 {
		w = size.Width * bubbleShare
	}
	th := b.text.MinSize().Height
	b.text.Resize(fyne.NewSize(w, th))
	th = b.text.MinSize().Height
	mh := b.meta.MinSize().Height
	x := float32(0)
	if b.side == 1 {
		x = size.Width - w
	}
	b.bg.Move(fyne.NewPos(x, 0))
	b.bg.Resize(fyne.NewSize(w, th+mh-theme.InnerPadding()))
	b.text.Move(fyne.NewPos(x, 0))
	b.text.Resize(fyne.NewSize(w, th))
	b.meta.Alignment = fyne.TextAlignLeading
	if b.side == 1 {
		b.meta.Alignment = fyne.TextAlignTrailing
	} else if b.side == 0 {
		b.meta.Alignment = fyne.TextAlignCenter
	}
	b.meta.Move(fyne.NewPos(x, th-theme.InnerPadding()))
	b.meta.Resize(fyne.NewSize(w, mh))
}

func (r *bubbleRenderer) MinSize() fyne.Size {
	return fyne.NewSize(r.b.text.MinSize().Width, r.b.text.MinSize().Height+r.b.meta.MinSize().Height-theme.InnerPadding())
}

func (r *bubbleRenderer) Refresh() {
	r.Layout(r.b.Size())
	canvas.Refresh(r.b)
}

func (r *bubbleRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.b.bg, r.b.text, r.b.meta}
}

func (r *bubbleRenderer) Destroy() {}

// measurer is a bubble used only to measure rows' heights.
var measurer *bubble

// bubbleHeight is the height row it takes in a list width wide (on the
// UI thread).
func bubbleHeight(it item, width float32) float32 {
	if measurer == nil {
		measurer = newBubble()
	}
	b := measurer
	b.set(it)
	w := width - theme.ScrollBarSize() - 2*theme.Padding()
	if b.side != 0 {
		w *= bubbleShare
	}
	b.text.Resize(fyne.NewSize(w, b.text.MinSize().Height))
	return b.text.MinSize().Height + b.meta.MinSize().Height - theme.InnerPadding() + theme.Padding()
}
