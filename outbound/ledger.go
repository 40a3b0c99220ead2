package outbound

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/kafkaio"
)

// The send ledger: the API has no idempotency key, so wabridge writes which
// commands it is about to send, in a topic with as many partitions as the
// command topic, before their API calls: a command joins its partition's
// next wave once it is next in line for its recipient, and waits for that
// wave's acknowledgement just before its call (see waves). Command
// partition p's intents live in ledger partition p. There is nothing else
// to write per command:
//
//   - the result record is the outcome's durable record: a command is
//     finished once its result (and dead letter) is acknowledged;
//   - done is the committed offset, plus the finished offsets beyond it,
//     which the commit carries as its metadata (see encodeFinished); a
//     revocation that cannot commit writes what finished since the last
//     commit as one done record instead;
//   - a revocation writes the commands it abandoned before any API call
//     as one released record: it undoes the intents written before it
//     (the ledger partition is read in order), so that a command next in
//     line when its partition moved is sent by the next owner as any
//     other, not taken for an unknown outcome.
//
// When a partition is assigned, its intents for commands at or after the
// committed offset are restored, with the commit's list. A redelivered
// command the list (or a done record) names is skipped; one found in an
// intent and not finished was being sent, was next in line, or finished
// after the last commit, when its previous owner stopped: its outcome is
// unknown. It is counted (wabridge_sends_unknown_outcome_total) and, by
// policy, sent again or failed with reason unknown_outcome. Entries
// "accepted" of earlier versions are still read (a command found accepted
// has its stored result written, not sent again).

const (
	ledgerSending  = "sending"
	ledgerAccepted = "accepted"
	ledgerDone     = "done"
	// ledgerReleased names commands a revocation abandoned before any API
	// call: it undoes the intents of theirs written before it (and only
	// those: a later intent names them again).
	ledgerReleased = "released"
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

// ledgerRecord is a ledger record as read: a wave of intents (Commands
// set), or one entry of one command as earlier versions wrote them.
type ledgerRecord struct {
	ledgerEntry
	Commands []waveCommand `json:"commands"`
}

// entries are rec's entries, one per command.
func (rec ledgerRecord) entries() []ledgerEntry {
	if len(rec.Commands) == 0 {
		return []ledgerEntry{rec.ledgerEntry}
	}
	out := make([]ledgerEntry, len(rec.Commands))
	for i, c := range rec.Commands {
		out[i] = ledgerEntry{State: rec.State, CommandID: c.ID, Partition: rec.Partition, Offset: c.Offset, At: rec.At, CommandTopic: rec.CommandTopic}
	}
	return out
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
func restoreLedger(ctx context.Context, conn kafkaio.Conn, starts, ends kadm.ListedOffsets, topic, commandTopic string, p int32, committed, window int64, log *slog.Logger) (map[string]ledgerEntry, int, error) {
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
		entries, reachedOld, n, err := readLedger(ctx, conn, topic, commandTopic, p, from, end.Offset, committed, window)
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

func readLedger(ctx context.Context, conn kafkaio.Conn, topic, commandTopic string, p int32, from, to, committed, window int64) (map[string]ledgerEntry, bool, int, error) {
	entries := map[string]ledgerEntry{}
	reachedOld := false
	n := 0
	err := conn.ReadRanges(ctx, []kafkaio.PartitionRange{{Topic: topic, Partition: p, Start: from, End: to}}, func(r *kgo.Record) error {
		n++
		var rec ledgerRecord
		if json.Unmarshal(r.Value, &rec) != nil || (rec.CommandTopic != "" && rec.CommandTopic != commandTopic) {
			return nil // another command topic's entry
		}
		for _, e := range rec.entries() {
			if e.Offset < committed-window {
				reachedOld = true
			}
			if e.Offset >= committed {
				prev, ok := entries[e.CommandID]
				if e.State == ledgerReleased {
					if ok && prev.State == ledgerSending && prev.Offset == e.Offset {
						delete(entries, e.CommandID)
					}
					continue
				}
				if !ok || ledgerRank[e.State] >= ledgerRank[prev.State] {
					entries[e.CommandID] = e
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, n, fmt.Errorf("reading ledger: %w", err)
	}
	return entries, reachedOld, n, nil
}
