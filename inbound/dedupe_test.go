package inbound

import (
	"fmt"
	"testing"
	"time"
)

func TestRecentIDsForgetsTheOldest(t *testing.T) {
	r := newRecentIDs(3)
	r.add([]string{"a", "b"})
	r.add([]string{"b", "c", "d"}) // b again takes no room
	for id, want := range map[string]bool{"a": false, "b": true, "c": true, "d": true, "e": false} {
		if got := r.has(id); got != want {
			t.Errorf("has(%q) = %v, want %v", id, got, want)
		}
	}
	for i := range 100 {
		r.add([]string{fmt.Sprint(i)})
	}
	if len(r.set) != 3 {
		t.Errorf("holds %d ids, want 3", len(r.set))
	}
}

func TestEverySecondThrottles(t *testing.T) {
	var e everySecond
	t0 := time.Unix(1760000000, 0)
	if n, ok := e.allow(t0); !ok || n != 1 {
		t.Fatalf("first: %d, %v", n, ok)
	}
	for i := range 5 {
		if _, ok := e.allow(t0.Add(time.Duration(i) * 100 * time.Millisecond)); ok {
			t.Fatalf("event %d within the second was let through", i)
		}
	}
	if n, ok := e.allow(t0.Add(time.Second)); !ok || n != 6 {
		t.Errorf("after a second: %d, %v; want 6 events, let through", n, ok)
	}
}
