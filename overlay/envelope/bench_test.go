package envelope

import (
	"testing"
)

func BenchmarkSealOpen(b *testing.B) {
	alice, bob := ident(b, 1), ident(b, 2)
	payload := make([]byte, 1024)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		data, _, err := Seal(alice, bob.PublicKey(), 1, payload, t0, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Open(bob, data, t0, Policy{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	alice, bob := ident(b, 1), ident(b, 2)
	payload := make([]byte, 1024)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Seal(alice, bob.PublicKey(), 1, payload, t0, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	alice, bob := ident(b, 1), ident(b, 2)
	data, _, err := Seal(alice, bob.PublicKey(), 1, make([]byte, 1024), t0, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(bob, data, t0, Policy{}); err != nil {
			b.Fatal(err)
		}
	}
}
