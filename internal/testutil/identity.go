package testutil

import (
	"testing"

	"github.com/parleynet/parley/overlay/identity"
)

// Identity returns a fresh identity, or fails the test.
func Identity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
