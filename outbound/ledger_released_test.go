package outbound

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/kafkatest"
)

// A released record undoes the intents written before it, and only those:
// a command a later intent names again is being sent, and a done command
// stays done.
func TestLedgerReleasedUndoesEarlierIntents(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, "ledger")
	kafkatest.CreateTopics(t, brokers, 1, topic)
	record := func(state string, cmds ...waveCommand) kafka.Message {
		v, err := json.Marshal(waveRecord{State: state, CommandTopic: "cmds", Partition: 0, Commands: cmds, At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Message{Key: []byte(state), Value: v}
	}
	a, b, c, d := waveCommand{ID: "a", Offset: 10}, waveCommand{ID: "b", Offset: 11}, waveCommand{ID: "c", Offset: 12}, waveCommand{ID: "d", Offset: 13}
	kafkatest.Produce(t, brokers, topic,
		record(ledgerSending, a, b, c, d),
		record(ledgerDone, c),
		record(ledgerReleased, a, b, c), // a and b abandoned before their calls
		record(ledgerSending, b),        // b next in line again, for its next owner
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries, _, n, err := readLedger(ctx, kafkaio.Conn{Brokers: brokers}, topic, "cmds", 0, 0, 4, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("read %d records, want 4", n)
	}
	want := map[string]string{"b": ledgerSending, "c": ledgerDone, "d": ledgerSending}
	if len(entries) != len(want) {
		t.Errorf("entries %v, want %v (a released)", entries, want)
	}
	for id, state := range want {
		if e, ok := entries[id]; !ok || e.State != state {
			t.Errorf("%s: %+v, want state %s", id, e, state)
		}
	}
}
