package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/schemas"
)

func TestTailFilters(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, "events")
	kafkatest.CreateTopics(t, brokers, 2, topic)
	var msgs []kafka.Message
	for i := range 10 {
		user := "15550001111"
		if i%2 == 1 {
			user = "15550002222"
		}
		kind := "message_status"
		if i%3 == 0 {
			kind = "send_result"
		}
		msgs = append(msgs, kafka.Message{
			Key:   []byte(user),
			Value: []byte(fmt.Sprintf(`{"n":%d}`, i)),
			Headers: []kafka.Header{{Key: "event-kind", Value: []byte(kind)},
				{Key: "command-id", Value: []byte(fmt.Sprintf("cmd-%d", i))}},
		})
	}
	kafkatest.Produce(t, brokers, topic, msgs...)
	ctx := testCtx(t)
	base := []string{"tail", topic, "--brokers=" + strings.Join(brokers, ","), "--registry-url=http://127.0.0.1:1"}

	parts := map[int]bool{}
	// tail stops after want records (--idle only bounds a failure), or,
	// when none are wanted, after a quiet second.
	tail := func(want int, extra ...string) []int {
		t.Helper()
		stop := []string{fmt.Sprintf("--max=%d", want), "--idle=30s"}
		if want == 0 {
			stop = []string{"--idle=1s"}
		}
		r := runCLI(t, ctx, append(append(append([]string{}, base...), stop...), extra...)...)
		if r.code != 0 {
			t.Fatalf("tail %v: exit %d err %v", extra, r.code, r.err)
		}
		var ns []int
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if line == "" {
				continue
			}
			var l struct {
				Partition int
				Value     struct{ N int } `json:"value"`
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			ns = append(ns, l.Value.N)
			parts[l.Partition] = true
		}
		return ns
	}
	count := func(ns []int, pred func(int) bool) bool {
		for _, n := range ns {
			if !pred(n) {
				return false
			}
		}
		return true
	}

	if all := tail(10); len(all) != 10 {
		t.Errorf("no filter: %d records, want 10", len(all))
	}
	if got := tail(5, "--user=+1 555 000 2222"); len(got) != 5 || !count(got, func(n int) bool { return n%2 == 1 }) {
		t.Errorf("--user: %v", got)
	}
	if got := tail(4, "--kind=send_result"); len(got) != 4 || !count(got, func(n int) bool { return n%3 == 0 }) {
		t.Errorf("--kind: %v", got)
	}
	if got := tail(2, "--kind=send_result", "--user=15550001111"); fmt.Sprint(len(got)) != "2" {
		t.Errorf("--kind and --user: %v", got)
	}
	if got := tail(1, "--command-id=cmd-7"); fmt.Sprint(got) != "[7]" {
		t.Errorf("--command-id: %v", got)
	}
	// The last record of each partition that has records.
	// The last record of each partition that has records, in both flag
	// forms.
	if got := tail(len(parts), "--offset=-1"); len(got) != len(parts) {
		t.Errorf("--offset=-1: %v", got)
	}
	if got := tail(len(parts), "--offset", "-1"); len(got) != len(parts) {
		t.Errorf("--offset -1: %v", got)
	}
	// -e stops at the end: no --max, no --idle.
	exit := func(extra ...string) (string, int) {
		t.Helper()
		r := runCLI(t, ctx, append(append(append([]string{}, base...), "-e"), extra...)...)
		if r.code != 0 {
			t.Fatalf("tail -e %v: exit %d err %v", extra, r.code, r.err)
		}
		return r.stdout, strings.Count(r.stdout, "\n")
	}
	if _, n := exit(); n != 10 {
		t.Errorf("-e: %d records", n)
	}
	if _, n := exit("-o", "-2"); n != 2*len(parts) {
		t.Errorf("-e -o -2: %d records, want %d", n, 2*len(parts))
	}
	if _, n := exit("-o", "end"); n != 0 {
		t.Errorf("-e -o end: %d records", n)
	}
	if _, n := exit("--offset", "s@"+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)); n != 10 {
		t.Errorf("-e --offset s@an hour ago: %d records", n)
	}
	if out, _ := exit("--command-id", "cmd-4", "--fields", "offset,n,headers.command-id"); !strings.HasSuffix(out, `,"n":4,"headers.command-id":"cmd-4"}`+"\n") {
		t.Errorf("--fields: %s", out)
	}
	if out, _ := exit("--command-id", "cmd-4", "--pretty"); !strings.Contains(out, "\n  \"value\": {\n    \"n\": 4\n  }\n}") {
		t.Errorf("--pretty: %s", out)
	}
	if got := tail(0, "--offset=1000"); len(got) != 0 {
		t.Errorf("--offset past the end: %v", got)
	}
	if got := tail(10, "--since=2h"); len(got) != 10 {
		t.Errorf("--since 2h: %d records", len(got))
	}
	if got := tail(0, "--since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); len(got) != 0 {
		t.Errorf("--since in the future: %v", got)
	}
	r := runCLI(t, ctx, append(append([]string{}, base...), "--since=1h", "--offset=3")...)
	if r.code != 2 {
		t.Errorf("--since with --offset: exit %d", r.code)
	}
	r = runCLI(t, ctx, append(append([]string{}, base...), "--offset", "last")...)
	if r.code != 2 || !strings.Contains(r.err.Error(), "s@TIME") {
		t.Errorf("--offset last: exit %d err %v", r.code, r.err)
	}
	r = runCLI(t, ctx, append(append([]string{}, base...), "--fields", "a,,b")...)
	if r.code != 2 || !strings.Contains(r.err.Error(), "--fields") {
		t.Errorf("--fields a,,b: exit %d err %v", r.code, r.err)
	}
	r = runCLI(t, ctx, append(append([]string{}, base...), "--since=yesterday")...)
	if r.code != 2 || !strings.Contains(r.err.Error(), "RFC 3339") {
		t.Errorf("--since=yesterday: exit %d err %v", r.code, r.err)
	}
	r = runCLI(t, ctx, append(append([]string{}, base...), "--max=-1")...)
	if r.code != 2 || !strings.Contains(r.err.Error(), "--max") {
		t.Errorf("--max=-1: exit %d err %v", r.code, r.err)
	}
	r = runCLI(t, ctx, append(append([]string{}, base...), "--kind=send_results")...)
	if r.code != 2 || !strings.Contains(r.err.Error(), "--kind") {
		t.Errorf("--kind=send_results: exit %d err %v", r.code, r.err)
	}
	for _, start := range []string{"--from-end", "--offset=-1", "--since=1h"} {
		r = runCLI(t, ctx, "tail", "--brokers="+strings.Join(brokers, ","), "--registry-url=http://127.0.0.1:1", start, topic+".typo")
		if r.code != 1 || !strings.Contains(r.err.Error(), "topic \""+topic+".typo\" not found") {
			t.Errorf("%s on a missing topic: exit %d err %v", start, r.code, r.err)
		}
	}
	r = runCLI(t, ctx, "tail", "--brokers=localhost", "x")
	if r.code != 2 || !strings.Contains(r.err.Error(), "host:port") {
		t.Errorf("--brokers=localhost: exit %d err %v", r.code, r.err)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// What tail prints for an Avro event, compact and --pretty: the golden
// files are the tools' JSON shape (internal/render).
func TestTailGolden(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, "results")
	kafkatest.CreateTopics(t, brokers, 1, topic)
	registry, _ := testRegistry(t)
	client, err := sr.NewClient(sr.URLs(registry))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	enc, err := schemas.Resolve(ctx, client, topic, schemas.SendResult, true)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 9, 0, 0, 250e6, time.UTC)
	value, err := enc.Encode(map[string]any{
		"event_id": "result:c-1", "command_id": "c-1", "outcome": "accepted", "produced_at": at,
		"to": schemas.Optional("string", "+1 555 000 1111"), "wa_id": schemas.Optional("string", "15550001111"),
		"message_id": schemas.Optional("string", "wamid.GOLDEN"), "message_status": nil,
		"attempts": int32(1), "latency_ms": int64(12), "error": nil,
		"source_topic": "wabridge.commands", "source_partition": int32(0), "source_offset": int64(41),
	})
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.Produce(t, brokers, topic, kafka.Message{Key: []byte("15550001111"), Value: value, Time: at,
		Headers: []kafka.Header{{Key: "event-kind", Value: []byte("send_result")}, {Key: "command-id", Value: []byte("c-1")}}})

	// The topic's name is the test's own: leave it out.
	fields := "--fields=partition,offset,time,key,headers,value"
	for name, args := range map[string][]string{
		"tail_result.golden":        {fields},
		"tail_result_pretty.golden": {fields, "--pretty"},
		"tail_result_fields.golden": {"--fields=offset,command_id,outcome,message_id,error.reason,headers.event-kind"},
	} {
		r := runCLI(t, ctx, append([]string{"tail", topic, "--brokers=" + strings.Join(brokers, ","), "--registry-url=" + registry, "-e"}, args...)...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d err %v", name, r.code, r.err)
		}
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, []byte(r.stdout), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -run TestTailGolden -update writes it)", err)
		}
		if r.stdout != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", name, r.stdout, want)
		}
	}
}
