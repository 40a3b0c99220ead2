package campaign

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wabridge/wabridge/internal/follow"
)

// Summary counts a campaign's outcomes: the results of its commands and
// the rows rejected before anything was produced.
type Summary struct {
	accepted int
	rejected map[string]int // by reason
	failed   map[string]int // by "code title" or reason
}

// ReasonInvalidRow counts the rows the validation pass rejected.
const ReasonInvalidRow = "invalid row"

// NewSummary starts a summary with the rows validation rejected.
func NewSummary(rejectedRows int) *Summary {
	s := &Summary{rejected: map[string]int{}, failed: map[string]int{}}
	if rejectedRows > 0 {
		s.rejected[ReasonInvalidRow] = rejectedRows
	}
	return s
}

// Add counts a result.
func (s *Summary) Add(r follow.Result) {
	switch r.Outcome {
	case "accepted":
		s.accepted++
	case "rejected":
		s.rejected[r.Reason]++
	default:
		k := r.Reason
		if r.Code != 0 {
			k = fmt.Sprintf("%d %s", r.Code, r.Title)
		}
		s.failed[k]++
	}
}

// AllAccepted tells whether nothing was rejected or failed.
func (s *Summary) AllAccepted() bool { return len(s.rejected)+len(s.failed) == 0 }

// String reads "accepted 11, rejected 1 (invalid row: 1), failed 1 (131026
// Message undeliverable: 1)", the reasons most frequent first.
func (s *Summary) String() string {
	count := func(m map[string]int) (int, string) {
		total := 0
		keys := make([]string, 0, len(m))
		for k, n := range m {
			total += n
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			if m[a] != m[b] {
				return m[b] - m[a]
			}
			return strings.Compare(a, b)
		})
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
		}
		if len(parts) == 0 {
			return 0, ""
		}
		return total, " (" + strings.Join(parts, ", ") + ")"
	}
	nr, rs := count(s.rejected)
	nf, fs := count(s.failed)
	return fmt.Sprintf("accepted %d, rejected %d%s, failed %d%s", s.accepted, nr, rs, nf, fs)
}

// AllAcceptedBut tells whether the only outcomes not accepted are the
// rejectedRows rows validation rejected.
func (s *Summary) AllAcceptedBut(rejectedRows int) bool {
	return len(s.failed) == 0 && len(s.rejected) == 1 && s.rejected[ReasonInvalidRow] == rejectedRows
}
