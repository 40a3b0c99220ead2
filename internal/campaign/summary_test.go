package campaign

import (
	"testing"

	"github.com/wabridge/wabridge/internal/follow"
)

func TestSummary(t *testing.T) {
	tests := []struct {
		name         string
		rejectedRows int
		results      []follow.Result
		want         string
		allAccepted  bool
		onlyRows     bool
	}{
		{name: "all accepted", results: []follow.Result{{Outcome: "accepted"}, {Outcome: "accepted"}},
			want: "accepted 2, rejected 0, failed 0", allAccepted: true},
		{name: "rows rejected before producing", rejectedRows: 2, results: []follow.Result{{Outcome: "accepted"}},
			want: "accepted 1, rejected 2 (invalid row: 2), failed 0", onlyRows: true},
		{name: "failures by code, most frequent first", rejectedRows: 1, results: []follow.Result{
			{Outcome: "failed", Reason: "api_error", Code: 131026, Title: "Message undeliverable"},
			{Outcome: "failed", Reason: "retries_exhausted"},
			{Outcome: "failed", Reason: "api_error", Code: 131026, Title: "Message undeliverable"},
			{Outcome: "rejected", Reason: "outside_customer_service_window"},
		}, want: "accepted 0, rejected 2 (invalid row: 1, outside_customer_service_window: 1), failed 3 (131026 Message undeliverable: 2, retries_exhausted: 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSummary(tt.rejectedRows)
			for _, r := range tt.results {
				s.Add(r)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
			if s.AllAccepted() != tt.allAccepted || s.AllAcceptedBut(tt.rejectedRows) != tt.onlyRows {
				t.Errorf("AllAccepted %v, AllAcceptedBut(%d) %v", s.AllAccepted(), tt.rejectedRows, s.AllAcceptedBut(tt.rejectedRows))
			}
		})
	}
}
