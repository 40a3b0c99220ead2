package outbound

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The send ledger: the API has no idempotency key, so wabridge remembers
// which commands the API accepted in a compacted topic with as many
// partitions as the command topic; command partition p's entries live in
// ledger partition p. An entry goes through up to three states:
//
//	sending:  the first API call is about to be made
//	accepted: the API returned 200 (the entry carries the encoded result)
//	done:     the command's result (and, when not accepted, its dead
//	          letter) is on Kafka: whatever the outcome, it is finished
//
// When a partition is assigned, its entries for commands at or after the
// committed offset are restored; a redelivered command found there is not
// sent again: "done" is skipped, "accepted" has its stored result written.
// The window that can still send twice is a crash (or revocation) between
// the API call and the acknowledgement of the "accepted" entry: such a
// command is found in state "sending"; it is counted
// (wabridge_sends_unknown_outcome_total) and, by policy, sent again or
// failed with reason unknown_outcome.

const (
	ledgerSending  = "sending"
	ledgerAccepted = "accepted"
	ledgerDone     = "done"
)

// ledgerRank orders the states: a later state supersedes an earlier one.
var ledgerRank = map[string]int{ledgerSending: 1, ledgerAccepted: 2, ledgerDone: 3}

type ledgerEntry struct {
	State     string `json:"state"`
	CommandID string `json:"command_id"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// Result is the encoded result event (Confluent Avro), for "accepted".
	Result []byte `json:"result,omitempty"`
	// ResultKey is the result record's key.
	ResultKey []byte    `json:"result_key,omitempty"`
	At        time.Time `json:"at"`
	// CommandTopic is the command's topic: deployments with different
	// command topics may share a ledger topic (the default name), and their
	// command ids need not differ. Entries written before it existed have
	// none and count for every command topic.
	CommandTopic string `json:"command_topic,omitempty"`
}

func (l ledgerEntry) record(topic string) *kgo.Record {
	return &kgo.Record{Topic: topic, Partition: l.Partition, Key: []byte(l.CommandID), Value: l.appendJSON(nil)}
}

// appendJSON appends the entry as json.Marshal would write it, without
// reflection: three entries are written per send, and encoding/json was 8 %
// of the bridge's CPU.
func (l ledgerEntry) appendJSON(b []byte) []byte {
	b = append(b, `{"state":`...)
	b = appendJSONString(b, l.State)
	b = append(b, `,"command_id":`...)
	b = appendJSONString(b, l.CommandID)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(l.Partition), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, l.Offset, 10)
	if len(l.Result) > 0 {
		b = append(b, `,"result":"`...)
		b = base64.StdEncoding.AppendEncode(b, l.Result)
		b = append(b, '"')
	}
	if len(l.ResultKey) > 0 {
		b = append(b, `,"result_key":"`...)
		b = base64.StdEncoding.AppendEncode(b, l.ResultKey)
		b = append(b, '"')
	}
	b = append(b, `,"at":`...)
	if at, err := l.At.MarshalJSON(); err == nil {
		b = append(b, at...)
	} else {
		b = append(b, `"0001-01-01T00:00:00Z"`...) // a year json cannot write: as the zero time
	}
	if l.CommandTopic != "" {
		b = append(b, `,"command_topic":`...)
		b = appendJSONString(b, l.CommandTopic)
	}
	return append(b, '}')
}

// appendJSONString appends s quoted as encoding/json does; strings of plain
// printable ASCII (command ids, states) take the fast path.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// listLedger lists the start and end offsets of every partition of the
// ledger topic, once for all the partitions a rebalance assigns.
func listLedger(ctx context.Context, adm *kadm.Client, topic string) (starts, ends kadm.ListedOffsets, err error) {
	if ends, err = adm.ListEndOffsets(ctx, topic); err != nil {
		return nil, nil, fmt.Errorf("end offsets of ledger %s: %w", topic, err)
	}
	if starts, err = adm.ListStartOffsets(ctx, topic); err != nil {
		return nil, nil, fmt.Errorf("start offsets of ledger %s: %w", topic, err)
	}
	return starts, ends, nil
}

// restoreLedger reads the entries of ledger partition p (whose offsets
// listLedger listed) that can concern commands at or after committed: it
// reads backwards in growing chunks from the end until it meets an entry
// for a command more than window offsets before committed (records of a
// partition never run further apart than window, so older entries cannot
// concern uncommitted commands).
func restoreLedger(ctx context.Context, brokers []string, starts, ends kadm.ListedOffsets, topic, commandTopic string, p int32, committed, window int64, log *slog.Logger) (map[string]ledgerEntry, int, error) {
	end, ok := ends.Lookup(topic, p)
	if !ok {
		return nil, 0, fmt.Errorf("ledger %s has no partition %d: it needs as many partitions as the command topic", topic, p)
	}
	if end.Err != nil {
		return nil, 0, fmt.Errorf("end offset of ledger %s partition %d: %w", topic, p, end.Err)
	}
	first, _ := starts.Lookup(topic, p)
	if end.Offset <= first.Offset {
		return map[string]ledgerEntry{}, 0, nil
	}
	chunk := 2*window + 1000
	for {
		from := max(first.Offset, end.Offset-chunk)
		entries, reachedOld, n, err := readLedger(ctx, brokers, topic, commandTopic, p, from, end.Offset, committed, window)
		if err != nil {
			return nil, 0, err
		}
		if reachedOld || from == first.Offset {
			log.Debug("ledger restored", "partition", p, "from", from, "to", end.Offset, "read", n, "kept", len(entries))
			return entries, n, nil
		}
		chunk *= 4
	}
}

func readLedger(ctx context.Context, brokers []string, topic, commandTopic string, p int32, from, to, committed, window int64) (map[string]ledgerEntry, bool, int, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		return nil, false, 0, err
	}
	defer cl.Close()
	entries := map[string]ledgerEntry{}
	reachedOld := false
	n := 0
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, false, n, fmt.Errorf("reading ledger %s/%d: %w", topic, p, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, false, n, fmt.Errorf("reading ledger %s/%d: %w", topic, p, ferr)
		}
		last := int64(-1)
		fs.EachRecord(func(r *kgo.Record) {
			n++
			last = r.Offset
			var e ledgerEntry
			if json.Unmarshal(r.Value, &e) != nil || (e.CommandTopic != "" && e.CommandTopic != commandTopic) {
				return // another command topic's entry
			}
			if e.Offset < committed-window {
				reachedOld = true
			}
			if e.Offset >= committed {
				if prev, ok := entries[e.CommandID]; !ok || ledgerRank[e.State] >= ledgerRank[prev.State] {
					entries[e.CommandID] = e
				}
			}
		})
		if last >= to-1 {
			return entries, reachedOld, n, nil
		}
	}
}
