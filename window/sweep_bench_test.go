package window

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSweep measures one sweep over a million live windows, which
// holds the Store's lock throughout (lookups wait that long once a
// SweepInterval).
//
//	go test ./window/ -run XXX -bench Sweep
func BenchmarkSweep(b *testing.B) {
	now := time.Now()
	s, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := range 1_000_000 {
		s.windows[uint64(i)*0x9e3779b97f4a7c15] = makeEntry(now.Add(-time.Duration(i)*time.Second/20).UnixMilli(), 0)
	}
	b.ResetTimer()
	for range b.N {
		if dropped, _ := s.Sweep(context.Background()); dropped != 0 {
			b.Fatalf("dropped %d live windows", dropped)
		}
	}
}
