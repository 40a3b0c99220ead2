package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkatest"
)

// kill -9 of the outbound half mid-stream, then a restart: nothing is lost
// (every command gets its accepted result) and a command reaches the API
// twice only if the restarted process found it mid-send in the ledger
// (wabridge_sends_unknown_outcome_total) — the one window the ledger cannot
// close, since the API has no idempotency key.
func TestKill9MidStreamLosesNothingAndResendsOnlyUnknownOutcomes(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	registry, dec := testRegistry(t)

	var mu sync.Mutex
	calls := map[string]int{}
	api := d360test.New(d360test.Config{APIKey: "k"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var b struct {
			Text struct {
				Body string `json:"body"`
			} `json:"text"`
		}
		json.Unmarshal(raw, &b)
		mu.Lock()
		calls[b.Text.Body]++
		mu.Unlock()
		time.Sleep(3 * time.Millisecond)
		r.Body = io.NopCloser(strings.NewReader(string(raw)))
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); api.Close() })

	topics := newBridgeTopics(t)
	commands, results := topics.commands, topics.results
	env := append(topics.env(4),
		"KAFKA_BROKERS="+strings.Join(brokers, ","),
		"SCHEMA_REGISTRY_URL="+registry,
		"D360_API_KEY=k", "D360_BASE_URL="+srv.URL,
		"WABRIDGE_ONLY=outbound", "WABRIDGE_WINDOW_MODE=off",
		"WABRIDGE_MAX_IN_FLIGHT=32", "WABRIDGE_RATE=1000",
		"WABRIDGE_INSTANCE_ID=crash-test", // static member: the restart takes the partitions back at once
	)
	const n = 3000
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		to := fmt.Sprintf("4917000%05d", i%100)
		msgs[i] = kafka.Message{Key: []byte(to), Value: []byte(fmt.Sprintf(`{"to":%q,"text":{"body":"m%d"}}`, to, i)),
			Headers: []kafka.Header{{Key: "command-id", Value: []byte(fmt.Sprintf("k-%d", i))}}}
	}
	kafkatest.CreateTopics(t, brokers, 4, commands)
	kafkatest.Produce(t, brokers, commands, msgs...)

	admin1 := freeAddr(t)
	first := start(t, append(env, "WABRIDGE_ADMIN_ADDR="+admin1), "run")
	waitReady(t, first, admin1)
	kafkatest.ReadN(t, brokers, results, 300, 60*time.Second)
	first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.done

	admin2 := freeAddr(t)
	second := start(t, append(env, "WABRIDGE_ADMIN_ADDR="+admin2), "run")
	waitReady(t, second, admin2)

	accepted := map[string]int{}
	deadline := time.Now().Add(120 * time.Second)
	var recs []kafka.Message
	for len(accepted) < n && time.Now().Before(deadline) {
		recs = kafkatest.ReadUpTo(t, brokers, results, n+1000, 5*time.Second)
		accepted = map[string]int{}
		for _, m := range recs {
			v, _, err := dec.Decode(context.Background(), m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if v["outcome"] == "accepted" {
				accepted[v["command_id"].(string)]++
			}
		}
	}
	if len(accepted) != n {
		t.Fatalf("%d commands have an accepted result, want all %d: something was lost", len(accepted), n)
	}
	unknown := metric(t, admin2, "wabridge_sends_unknown_outcome_total")
	replayed := metric(t, admin2, `wabridge_ledger_skips_total{state="accepted"}`)
	skipped := metric(t, admin2, `wabridge_ledger_skips_total{state="done"}`)
	second.stop(t)

	mu.Lock()
	defer mu.Unlock()
	dupSends := 0
	for i := 0; i < n; i++ {
		c := calls[fmt.Sprintf("m%d", i)]
		if c == 0 {
			t.Errorf("m%d never reached the API", i)
		}
		dupSends += max(0, c-1)
	}
	dupResults := len(recs) - n
	t.Logf("after kill -9: %d duplicate API sends, %d unknown outcomes found, %d results replayed from the ledger, %d skipped as done, %d extra result records",
		dupSends, int(unknown), int(replayed), int(skipped), dupResults)
	if dupSends > int(unknown) {
		t.Errorf("%d commands reached the API twice but only %d were flagged as unknown outcome: the ledger let a known send through again", dupSends, int(unknown))
	}
	if dupResults > int(replayed)+int(unknown) {
		t.Errorf("%d duplicate result records, more than the %d replayed and %d unknown", dupResults, int(replayed), int(unknown))
	}
}

// metric reads one sample of /metrics (0 when absent).
func metric(t *testing.T, admin, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name)), 64)
			return v
		}
	}
	return 0
}
