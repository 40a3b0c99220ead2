package campaign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

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
	f, err := follow.Open(ctx, follow.Config{Conn: conn, Topics: []string{topic}, Start: follow.At(since), StopAtEnd: true})
	if err != nil {
		return res, fmt.Errorf("scanning %s: %w", topic, err)
	}
	defer f.Close()
	for {
		r, err := f.Next(ctx)
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("scanning %s: %w", topic, err)
		}
		id := follow.Header(r, outbound.HeaderCommandID)
		if !strings.HasPrefix(id, prefix) {
			continue
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
	}
}
