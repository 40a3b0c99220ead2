package outbound_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/outbound"
)

// brokerCtl runs deploy/local-kafka.sh verb on the broker of
// KAFKA_STATE_DIR (the one KAFKA_BROKERS names).
func brokerCtl(t *testing.T, verb string) {
	t.Helper()
	out, err := exec.Command("../deploy/local-kafka.sh", verb).CombinedOutput()
	if err != nil {
		t.Fatalf("local-kafka.sh %s: %v\n%s", verb, err, out)
	}
}

// A broker killed (kill -9) mid-stream and started again with its data
// after the group session has expired: the worker reconnects, loses and
// gets back its partitions, and no command goes to the API twice, though
// commands the API answered during the outage could not be written then
// and resend-unknown is on. Runs only when asked (WABRIDGE_BROKER_FAULTS=1),
// against the broker of deploy/local-kafka.sh (KAFKA_BROKERS and
// KAFKA_STATE_DIR set): it stops the broker every other test shares.
func TestWorkerBrokerKillSendsNothingTwice(t *testing.T) {
	if os.Getenv("WABRIDGE_BROKER_FAULTS") != "1" || os.Getenv("KAFKA_BROKERS") == "" || os.Getenv("KAFKA_STATE_DIR") == "" {
		t.Skip("set WABRIDGE_BROKER_FAULTS=1 with KAFKA_BROKERS and KAFKA_STATE_DIR of a deploy/local-kafka.sh broker")
	}
	f := newFixture(t, func(d360test.Request) *d360test.Reply {
		return &d360test.Reply{Status: 200, Body: `{"messages":[{"id":"wamid.x"}]}`, Delay: 5 * time.Millisecond}
	})
	const n = 3000
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = cmd(fmt.Sprintf("c%05d", i), fmt.Sprintf(`{"to":"4917%08d","type":"text","text":{"body":"m%d"}}`, i%300, i))
	}
	kafkatest.Produce(t, f.brokers, f.commands, msgs...)
	f.startWith(t, func(c *outbound.Config) {
		c.ResendUnknown = true // a live process resending would show as a duplicate
		c.MaxInFlight = 64
		c.MaxAttempts = 1000
		c.BackoffMax = time.Second
	})
	for i := 0; len(f.api.Requests()) < n/4; i++ {
		if i == 600 {
			t.Fatalf("only %d API calls within 60s", len(f.api.Requests()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	brokerCtl(t, "kill")
	time.Sleep(12 * time.Second) // past the 10 s session: the partitions are lost
	brokerCtl(t, "start")
	restarted := time.Now()

	got := map[string]bool{}
	for want, i := n, 0; len(got) < n && i < 18; i++ { // up to 3 minutes
		got = map[string]bool{}
		msgs := kafkatest.ReadUpTo(t, f.brokers, f.results, want, 10*time.Second)
		for _, m := range msgs {
			for _, h := range m.Headers {
				if h.Key == outbound.HeaderCommandID {
					got[string(h.Value)] = true
				}
			}
		}
		want = len(msgs) + n - len(got) // results written twice count too
	}
	t.Logf("results of all commands %s after the broker's restart", time.Since(restarted).Round(time.Second))
	if len(got) != n {
		t.Errorf("results for %d of %d commands", len(got), n)
	}
	calls := map[string]int{}
	for _, r := range f.api.Requests() {
		var b struct {
			ID string `json:"biz_opaque_callback_data"`
		}
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatal(err)
		}
		calls[b.ID]++
	}
	dups := 0
	for id, c := range calls {
		if c > 1 {
			dups += c - 1
			if dups < 10 {
				t.Errorf("command %s sent %d times", id, c)
			}
		}
	}
	t.Logf("%d commands, %d API calls, %d duplicate sends", n, len(f.api.Requests()), dups)
}
