package metrics

import (
	"testing"
)

// The window state's restore is a histogram like the ledger's: no
// observation before it, then one with its duration.
func TestWindowRestoreIsAHistogram(t *testing.T) {
	for _, tc := range []struct {
		secs              float64
		count, under, ovr uint64 // count; cumulative count at le=0.25 and le=0.5
	}{
		{0, 0, 0, 0},
		{0.3, 1, 0, 1},
	} {
		m := New()
		m.WatchWindow(func() WindowStats { return WindowStats{RestoreSeconds: tc.secs} })
		fams, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range fams {
			if f.GetName() != "wabridge_window_restore_seconds" {
				continue
			}
			found = true
			h := f.GetMetric()[0].GetHistogram()
			if h == nil {
				t.Fatalf("wabridge_window_restore_seconds is a %v, want a histogram", f.GetType())
			}
			if h.GetSampleCount() != tc.count || h.GetSampleSum() != tc.secs {
				t.Errorf("restore %v s: count %d sum %v, want %d and %v", tc.secs, h.GetSampleCount(), h.GetSampleSum(), tc.count, tc.secs)
			}
			for _, b := range h.GetBucket() {
				want := map[float64]uint64{0.25: tc.under, 0.5: tc.ovr}
				if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
					t.Errorf("restore %v s: bucket le=%v holds %d, want %d", tc.secs, b.GetUpperBound(), b.GetCumulativeCount(), w)
				}
			}
		}
		if !found {
			t.Fatal("wabridge_window_restore_seconds not served")
		}
	}
}
