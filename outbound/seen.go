package outbound

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strconv"

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
// with an id of their own can be recognised; a position id is not
// remembered at all, since no other offset has it (unless a producer
// copies it into another command's header, which is then not recognised
// as a replay). A command `wabridge dlq replay` produced (HeaderReplayOf)
// is a deliberate second try of one that was not sent, never a replay.
//
// The ids are remembered as 128-bit keys (seenKey), not as strings: at the
// default MaxAhead that is up to 4,096 ids a partition. Two different ids
// have the same key with probability 2^-128 (two independent 64-bit
// maphash values with seeds of this process, which never leave it); a
// partition compares each new id with at most a few thousand, so across
// 10^15 commands the chance that one is taken for a replay it is not stays
// below 10^-20.

// HeaderReplayOf marks a command produced again by `wabridge dlq replay`,
// with the event id of its dead letter.
const HeaderReplayOf = "dlq-replay-of"

// seenKey is a command id's 128-bit key.
type seenKey [2]uint64

// seenSeeds are the seeds of every seenKey of this process.
var seenSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func keyOf(id string) seenKey {
	return seenKey{maphash.String(seenSeeds[0], id), maphash.String(seenSeeds[1], id)}
}

// seenIDs are the command ids of one partition and their offsets.
type seenIDs struct {
	at    map[seenKey]int64
	order []seenAt // in the order seen (offsets ascend), for forget
	// named holds the ids themselves of the commands at or after the
	// committed offset, in the order seen, for the ledger's done record
	// (Worker.doneRecord); a command not named has its position as id.
	named []waveCommand
}

// seenAt is one remembered id.
type seenAt struct {
	key    seenKey
	offset int64
}

func newSeenIDs() *seenIDs { return &seenIDs{at: map[seenKey]int64{}} }

// add records id at offset unless id is already known.
func (s *seenIDs) add(id string, offset int64) {
	k := keyOf(id)
	if _, ok := s.at[k]; ok {
		return
	}
	s.at[k] = offset
	s.order = append(s.order, seenAt{key: k, offset: offset})
	s.named = append(s.named, waveCommand{ID: id, Offset: offset})
}

// forget drops the ids seen before offset before, and the names of those
// before committed.
func (s *seenIDs) forget(before, committed int64) {
	i := 0
	for i < len(s.order) && s.order[i].offset < before {
		if s.at[s.order[i].key] == s.order[i].offset {
			delete(s.at, s.order[i].key)
		}
		i++
	}
	if i > 0 {
		s.order = slices.Delete(s.order, 0, i)
	}
	i = 0
	for i < len(s.named) && s.named[i].Offset < committed {
		i++
	}
	if i > 0 {
		s.named = slices.Delete(s.named, 0, i)
	}
}

// positionID is the id of a command without a command-id header.
func positionID(topic string, p int32, offset int64) string {
	var buf [48]byte
	b := append(buf[:0], '/')
	b = strconv.AppendInt(b, int64(p), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, offset, 10)
	return topic + string(b) // one allocation
}

// isPositionID reports whether id is positionID(topic, p, offset).
func isPositionID(id, topic string, p int32, offset int64) bool {
	if len(id) <= len(topic) || id[:len(topic)] != topic || id[len(topic)] != '/' {
		return false
	}
	var buf [48]byte
	b := strconv.AppendInt(buf[:0], int64(p), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, offset, 10)
	return id[len(topic)+1:] == string(b)
}

// seenFrom is restored ledger entries of partition p of topic as seen
// ids, in offset order.
func seenFrom(topic string, p int32, entries map[string]ledgerEntry) *seenIDs {
	sorted := slices.SortedFunc(maps.Values(entries), func(a, b ledgerEntry) int { return cmp.Compare(a.Offset, b.Offset) })
	s := newSeenIDs()
	for _, e := range sorted {
		if !isPositionID(e.CommandID, topic, p, e.Offset) {
			s.add(e.CommandID, e.Offset)
		}
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
	if s == nil || isPositionID(id, r.Topic, p, offset) || header(r, HeaderReplayOf) != "" {
		return nil
	}
	if o, ok := s.at[keyOf(id)]; ok && o != offset {
		return &duplicateError{id: id, offset: o}
	}
	s.add(id, offset)
	return nil
}
