package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestCalls(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	bob := addContact(t, db, "bob", 1)
	carol := addContact(t, db, "carol", 2)

	add := func(c Call) Call {
		t.Helper()
		id, err := db.AddCall(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		c.ID = id
		return c
	}
	c1 := add(Call{ContactID: bob.ID, CallID: msgID(1, 1), Direction: Outgoing, Started: ms(100)})
	c2 := add(Call{ContactID: carol.ID, CallID: msgID(1, 2), Direction: Incoming, Started: ms(200)})
	c3 := add(Call{ContactID: bob.ID, CallID: msgID(1, 3), Direction: Incoming, Started: ms(300),
		Ended: ms(330), Outcome: CallMissed, Reason: "no answer"})
	c4 := add(Call{ContactID: bob.ID, CallID: msgID(1, 4), Direction: Outgoing, Started: ms(300)}) // same start as c3

	if _, err := db.AddCall(ctx, Call{ContactID: carol.ID, CallID: c1.CallID, Direction: Incoming, Started: ms(5)}); !errors.Is(err, ErrExists) {
		t.Errorf("AddCall with a logged call ID: err = %v, want ErrExists", err)
	}

	if err := db.SetCallAnswered(ctx, c1.CallID, ms(110)); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCallAnswered(ctx, c1.CallID, ms(115)); err != nil { // first answer time kept
		t.Fatal(err)
	}
	if done, err := db.FinishCall(ctx, c1.CallID, CallAnswered, "", ms(160)); err != nil || !done {
		t.Fatalf("FinishCall = %v, %v; want true", done, err)
	}
	if done, err := db.FinishCall(ctx, c1.CallID, CallFailed, "ice failed", ms(170)); err != nil || done {
		t.Errorf("second FinishCall = %v, %v; want false, nil", done, err)
	}
	if err := db.SetCallAnswered(ctx, c2.CallID, ms(210)); err != nil {
		t.Fatal(err)
	}
	if done, err := db.FinishCall(ctx, c2.CallID, CallFailed, "ice failed", ms(220)); err != nil || !done {
		t.Fatalf("FinishCall = %v, %v", done, err)
	}
	if err := db.SetCallAnswered(ctx, c2.CallID, ms(230)); err != nil { // after the end: ignored
		t.Fatal(err)
	}
	c1.Answered, c1.Ended, c1.Outcome = ms(110), ms(160), CallAnswered
	c2.Answered, c2.Ended, c2.Outcome, c2.Reason = ms(210), ms(220), CallFailed, "ice failed"

	got, err := db.Calls(ctx, bob.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Call{c4, c3, c1}; !reflect.DeepEqual(got, want) {
		t.Errorf("Calls(bob):\n got %+v\nwant %+v", got, want)
	}
	if got, _ := db.Calls(ctx, bob.ID, 1); !reflect.DeepEqual(got, []Call{c4}) {
		t.Errorf("Calls(bob, 1) = %+v", got)
	}
	if got, _ := db.RecentCalls(ctx, 3); !reflect.DeepEqual(got, []Call{c4, c3, c2}) {
		t.Errorf("RecentCalls(3):\n got %+v\nwant %+v", got, []Call{c4, c3, c2})
	}
	// A call in progress has no end and no outcome.
	if got, _ := db.RecentCalls(ctx, 1); !got[0].Ended.IsZero() || got[0].Outcome != "" || !got[0].Answered.IsZero() {
		t.Errorf("call in progress: %+v", got[0])
	}

	if _, err := db.FinishCall(ctx, msgID(9, 9), CallMissed, "", ms(1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("FinishCall(missing): err = %v, want ErrNotFound", err)
	}
	if err := db.SetCallAnswered(ctx, msgID(9, 9), ms(1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetCallAnswered(missing): err = %v, want ErrNotFound", err)
	}
	if _, err := db.FinishCall(ctx, c4.CallID, "hung", "", ms(1)); err == nil {
		t.Error("FinishCall with an unknown outcome succeeded")
	}
	if _, err := db.FinishCall(ctx, c4.CallID, CallBusy, "", time.Time{}); err == nil {
		t.Error("FinishCall without an end time succeeded")
	}

	good := Call{ContactID: bob.ID, CallID: msgID(2, 1), Direction: Incoming, Started: ms(1)}
	for name, mod := range map[string]func(*Call){
		"no contact":          func(c *Call) { c.ContactID = 0 },
		"missing contact":     func(c *Call) { c.ContactID = 999 },
		"zero call ID":        func(c *Call) { c.CallID = [16]byte{} },
		"unknown direction":   func(c *Call) { c.Direction = "" },
		"no start":            func(c *Call) { c.Started = time.Time{} },
		"unknown outcome":     func(c *Call) { c.Outcome, c.Ended = "hung", ms(5) },
		"outcome without end": func(c *Call) { c.Outcome = CallMissed },
		"end without outcome": func(c *Call) { c.Ended = ms(5) },
	} {
		c := good
		mod(&c)
		if _, err := db.AddCall(ctx, c); err == nil {
			t.Errorf("AddCall(%s) succeeded", name)
		}
	}
	if n := countRows(t, db, "calls"); n != 4 {
		t.Errorf("%d calls, want 4", n)
	}
	if _, err := db.RecentCalls(ctx, 0); err == nil {
		t.Error("RecentCalls with limit 0 succeeded")
	}
}
