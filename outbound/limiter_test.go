package outbound

import (
	"fmt"
	"testing"
	"time"
)

// The pair-rate-limit pauses of recipients never written to again are
// forgotten once their strikes no longer count; a recipient hit again soon
// keeps its strikes.
func TestRecipientPacerForgets(t *testing.T) {
	r := newRecipientPacer(6 * time.Second)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		r.hit(fmt.Sprint("once-", i), t0)
	}
	if d := r.hit("again", t0); d != 6*time.Second {
		t.Fatalf("first hit: pause %s, want 6s", d)
	}
	if d := r.hit("again", t0.Add(10*time.Second)); d != 12*time.Second {
		t.Errorf("second hit 10s later: pause %s, want 12s (strikes kept)", d)
	}
	r.hit("later", t0.Add(time.Hour))
	if n := len(r.until); n != 1 {
		t.Errorf("%d pauses remembered an hour later, want 1 (the recipient just hit)", n)
	}
}
