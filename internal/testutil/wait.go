package testutil

import (
	"testing"
	"time"
)

// ClaimDifficulty is the username proof of work tests use: a few hundred
// hashes, where the real one (overlay/record.DefaultClaimDifficulty) takes about
// a second.
const ClaimDifficulty = 8

// Eventually polls cond every 10 ms until it holds, and fails the test
// (naming what it waited for) if timeout passes first. Inside a
// testing/synctest bubble the polling costs no real time.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	EventuallyEvery(t, timeout, 10*time.Millisecond, what, cond)
}

// EventuallyEvery is Eventually polling every every: for a cond that is
// costly (one that runs a command, say).
func EventuallyEvery(t testing.TB, timeout, every time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(every)
	}
}
