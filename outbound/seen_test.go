package outbound_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/outbound"
)

// A producer retry writes a command again: same command id, a new offset.
// The id is the idempotency key: the copy is not sent, and gets a result
// of its own (rejected, duplicate_command) after the first copy's — both
// while the first copy is fresh in the process, and after a restart, when
// the first copy lies before the committed offset and only the ledger
// knows it.
func TestWorkerDoesNotSendAReplayedCommandID(t *testing.T) {
	f := newFixture(t, nil)
	command := func(id, to string) kafka.Message {
		m := cmd(id, fmt.Sprintf(`{"to":%q,"type":"text","text":{"body":%q}}`, to, id))
		m.Key = []byte(to) // one recipient, one partition: a retry lands where the first copy is
		return m
	}
	// outcomes reads n results: the outcomes (with reasons) per command id,
	// in the order written.
	outcomes := func(n int) map[string][]string {
		t.Helper()
		out := map[string][]string{}
		for _, m := range kafkatest.ReadN(t, f.brokers, f.results, n, 30*time.Second) {
			v, _, err := f.decoder.Decode(context.Background(), m.Value)
			if err != nil {
				t.Fatal(err)
			}
			o := fmt.Sprint(v["outcome"])
			if e, ok := union(v["error"]).(map[string]any); ok {
				o += "/" + fmt.Sprint(e["reason"])
			}
			id := fmt.Sprint(v["command_id"])
			out[id] = append(out[id], o)
		}
		return out
	}

	kafkatest.Produce(t, f.brokers, f.commands, command("c1", "4917000000001"), command("c2", "4917000000002"), command("c1", "4917000000001"))
	stop := f.start(t)
	got := outcomes(3)
	if want := []string{"accepted", "rejected/duplicate_command"}; !slices.Equal(got["c1"], want) {
		t.Errorf("results of c1 (read twice) = %v, want %v", got["c1"], want)
	}
	if want := []string{"accepted"}; !slices.Equal(got["c2"], want) {
		t.Errorf("results of c2 = %v, want %v", got["c2"], want)
	}
	if n := len(f.api.Requests()); n != 2 {
		t.Errorf("%d API calls, want 2 (c1 once, c2)", n)
	}
	stop()

	// c2 again, produced by `wabridge dlq replay`: a deliberate second try.
	replayed := command("c2", "4917000000002")
	replayed.Headers = append(replayed.Headers, kafka.Header{Key: outbound.HeaderReplayOf, Value: []byte("dead-letter-1")})
	kafkatest.Produce(t, f.brokers, f.commands, command("c1", "4917000000001"), command("c3", "4917000000001"), replayed)
	f.start(t)
	got = outcomes(6)
	if want := []string{"accepted", "rejected/duplicate_command", "rejected/duplicate_command"}; !slices.Equal(got["c1"], want) {
		t.Errorf("results of c1 (read three times, the last after a restart) = %v, want %v", got["c1"], want)
	}
	if want := []string{"accepted"}; !slices.Equal(got["c3"], want) {
		t.Errorf("results of c3 = %v, want %v", got["c3"], want)
	}
	if want := []string{"accepted", "accepted"}; !slices.Equal(got["c2"], want) {
		t.Errorf("results of c2 (then replayed from the dead-letter topic) = %v, want %v", got["c2"], want)
	}
	if n := len(f.api.Requests()); n != 4 {
		t.Errorf("%d API calls, want 4 (c1 once, c2 twice, c3)", n)
	}
}
