package outbound

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The command id is the idempotency key: a producer that retries a write
// can put the same command into its partition twice, at two offsets. The
// worker remembers, per owned partition, the id of every command read at
// an offset from the committed one less MaxAhead on, and restores the same
// span of ids from the ledger's intents when a partition is assigned. A
// command whose id it already saw at another offset is a replay: it is not
// sent; its result is rejected with reason duplicate_command. A command
// without a command-id header has its position as id, so only commands
// with an id of their own can be recognised. A command `wabridge dlq
// replay` produced (HeaderReplayOf) is a deliberate second try of one that
// was not sent, never a replay.

// HeaderReplayOf marks a command produced again by `wabridge dlq replay`,
// with the event id of its dead letter.
const HeaderReplayOf = "dlq-replay-of"

// seenIDs are the command ids of one partition and their offsets.
type seenIDs struct {
	at    map[string]int64
	order []waveCommand // in the order seen (offsets ascend), for forget
}

func newSeenIDs() *seenIDs { return &seenIDs{at: map[string]int64{}} }

// add records id at offset unless id is already known.
func (s *seenIDs) add(id string, offset int64) {
	if _, ok := s.at[id]; ok {
		return
	}
	s.at[id] = offset
	s.order = append(s.order, waveCommand{ID: id, Offset: offset})
}

// forget drops the ids seen before offset.
func (s *seenIDs) forget(before int64) {
	i := 0
	for i < len(s.order) && s.order[i].Offset < before {
		if s.at[s.order[i].ID] == s.order[i].Offset {
			delete(s.at, s.order[i].ID)
		}
		i++
	}
	if i > 0 {
		s.order = slices.Delete(s.order, 0, i)
	}
}

// seenFrom is restored ledger entries as seen ids, in offset order.
func seenFrom(entries map[string]ledgerEntry) *seenIDs {
	sorted := slices.SortedFunc(maps.Values(entries), func(a, b ledgerEntry) int { return cmp.Compare(a.Offset, b.Offset) })
	s := newSeenIDs()
	for _, e := range sorted {
		s.add(e.CommandID, e.Offset)
	}
	return s
}

// duplicateError: the command's id was already read at another offset of
// its partition.
type duplicateError struct {
	id     string
	offset int64
}

func (e *duplicateError) Error() string {
	return fmt.Sprintf("command id %q was already read at offset %d of this partition (a replay of the same command); not sent again", e.id, e.offset)
}

// duplicateOf returns the duplicateError of the command id read in r when
// id was seen at another offset of r's partition, and records id
// otherwise. w.mu is held.
func (w *Worker) duplicateOf(r *kgo.Record, id string) *duplicateError {
	p, offset := r.Partition, r.Offset
	s := w.seen[p]
	if s == nil || header(r, HeaderReplayOf) != "" {
		return nil
	}
	if o, ok := s.at[id]; ok && o != offset {
		return &duplicateError{id: id, offset: o}
	}
	s.add(id, offset)
	return nil
}
