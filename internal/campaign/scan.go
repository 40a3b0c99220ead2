package campaign

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/follow"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/outbound"
)

// ScanResult is what Scan found.
type ScanResult struct {
	// Found is how many commands of the campaign the topic holds, Added
	// how many of their recipients the progress file did not list.
	Found, Added int
	// Earliest is the time of the earliest command found.
	Earliest time.Time
}

// Scan reads the command topic from since to its current end and adds the
// recipient of every command whose id starts with prefix to st: the topic
// is the record of what was produced (a crash can lose the progress file's
// last lines, never an acknowledged record).
func Scan(ctx context.Context, conn kafkaio.Conn, topic, prefix string, since time.Time, st *State) (ScanResult, error) {
	var res ScanResult
	err := conn.ReadTopicSince(ctx, topic, since, func(r *kgo.Record) error {
		id := follow.Header(r, outbound.HeaderCommandID)
		if !strings.HasPrefix(id, prefix) {
			return nil
		}
		res.Found++
		if res.Earliest.IsZero() || r.Timestamp.Before(res.Earliest) {
			res.Earliest = r.Timestamp
		}
		key := id[len(prefix):]
		h := RecipientHash(key)
		if _, ok := st.done[h]; !ok {
			st.done[h] = 0
			st.pending = append(st.pending, key)
			res.Added++
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("scanning %s at %v: %w", topic, conn.Brokers, err)
	}
	return res, nil
}
