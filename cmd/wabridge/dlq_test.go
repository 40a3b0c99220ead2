package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/outbound"
)

// dlqTool runs the binary to its end and returns its stdout, stderr and
// exit code.
func dlqTool(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	}
	t.Fatalf("wabridge %v: %v", args, err)
	return "", "", -1
}

// eventIDs are the event-id headers of msgs.
func eventIDs(msgs []kafka.Message) []string {
	var out []string
	for _, m := range msgs {
		for _, h := range m.Headers {
			if h.Key == "event-id" {
				out = append(out, string(h.Value))
			}
		}
	}
	return out
}

// startInbound runs `wabridge run --only inbound` on its own topics with
// extra in its environment, and returns the brokers, the topics, the
// environment (for the tools), the webhook listener's address and the
// process.
func startInbound(t *testing.T, extra ...string) ([]string, bridgeTopics, []string, string, *proc) {
	t.Helper()
	brokers := kafkatest.Brokers(t)
	registry, _ := testRegistry(t)
	topics := newBridgeTopics(t)
	httpAddr, admin := freeAddr(t), freeAddr(t)
	env := append(append(topics.env(3),
		"KAFKA_BROKERS="+strings.Join(brokers, ","), "SCHEMA_REGISTRY_URL="+registry,
		"WABRIDGE_HTTP_ADDR="+httpAddr, "WABRIDGE_ADMIN_ADDR="+admin, "WABRIDGE_ONLY=inbound"), extra...)
	p := start(t, env, "run")
	waitReady(t, p, admin)
	return brokers, topics, env, httpAddr, p
}

// A webhook whose message cannot be read becomes one dead letter; dlq
// lists it, shows it (no secret header, the body pretty-printed, and byte
// for byte with --original), a dry run replays nothing, a replay of the
// same body fails again with the same event ids, and a replay of the
// corrected body publishes the message, while the status published the
// first time comes out with its event id again.
func TestDlqWebhookRoundTrip(t *testing.T) {
	brokers, topics, env, httpAddr, p := startInbound(t, "WEBHOOK_TOKEN=tok-e2e-51", "WEBHOOK_TOKEN_HEADER=X-Acme-Hook")

	body, err := os.ReadFile("../../inbound/testdata/metadata_missing.json")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/webhook", bytes.NewReader(body))
	req.Header.Set("X-Acme-Hook", "tok-e2e-51")
	req.Header.Set("Authorization", "Bearer sekrit-e2e")
	req.Header.Set("User-Agent", "360dialog-e2e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("Wabridge-Dead-Letter")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(id, "dlq:webhook:") {
		t.Fatalf("HTTP %d, dead letter %q", resp.StatusCode, id)
	}
	first := eventIDs(kafkatest.ReadN(t, brokers, topics.statuses, 1, 30*time.Second))
	kafkatest.ReadN(t, brokers, topics.dlq, 1, 30*time.Second)

	out, errOut, code := dlqTool(t, env, "dlq", "list", "-o", "json")
	var line map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &line) != nil || line["event_id"] != id || line["source"] != "webhook" || line["replayable"] != true {
		t.Fatalf("dlq list -o json: exit %d, %s %s", code, out, errOut)
	}
	if f := line["failures"].([]any); len(f) != 1 || f[0].(map[string]any)["path"] != "entry[0].changes[0].value.messages[0]" {
		t.Errorf("failures %v", f)
	}
	out, _, code = dlqTool(t, env, "dlq", "list", "--reason", "metadata")
	if code != 0 || !strings.Contains(out, "1 dead letters") || !strings.Contains(out, "webhook: entry[].changes[].value.messages[]: message: change value has no metadata.phone_number_id") {
		t.Errorf("dlq list: exit %d\n%s", code, out)
	}
	out, _, _ = dlqTool(t, env, "dlq", "list", "--counts", "-o", "json")
	if want := `{"webhook: entry[].changes[].value.messages[]: message: change value has no metadata.phone_number_id":1}` + "\n"; out != want {
		t.Errorf("dlq list --counts -o json = %q, want %q", out, want)
	}
	if out, _, _ = dlqTool(t, env, "dlq", "list", "--source", "command"); !strings.Contains(out, "0 dead letters") {
		t.Errorf("dlq list --source command:\n%s", out)
	}

	out, _, code = dlqTool(t, env, "dlq", "show", id)
	var shown map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &shown) != nil {
		t.Fatalf("dlq show: exit %d\n%s", code, out)
	}
	headers, _ := shown["headers"].(map[string]any)
	if headers["User-Agent"] != "360dialog-e2e" || strings.Contains(out, "sekrit-e2e") || strings.Contains(out, "tok-e2e-51") {
		t.Errorf("dlq show headers %v (a secret must not appear)", headers)
	}
	if o, _ := shown["original"].(map[string]any); o["object"] != "whatsapp_business_account" || !strings.Contains(out, "\n  \"original\": {\n") {
		t.Errorf("dlq show original not pretty-printed JSON:\n%s", out)
	}
	out, _, code = dlqTool(t, env, "dlq", "show", id, "--original")
	if code != 0 || out != string(body) {
		t.Errorf("dlq show --original: exit %d, %d bytes, want the %d of the body", code, len(out), len(body))
	}

	listener := "http://" + httpAddr + "/webhook"
	out, _, code = dlqTool(t, env, "dlq", "replay", "--dry-run", "--url", listener)
	if code != 0 || !strings.Contains(out, "would POST "+id) {
		t.Errorf("dry run: exit %d\n%s", code, out)
	}
	if got := kafkatest.ReadUpTo(t, brokers, topics.dlq, 2, 2*time.Second); len(got) != 1 {
		t.Errorf("the dry run wrote: %d dead-letter records, want 1", len(got))
	}

	// Unchanged, the body fails again: the same dead letter and records.
	out, errOut, code = dlqTool(t, env, "dlq", "replay", id, "--url", listener, "--progress", "never")
	if code != 1 || !strings.Contains(out, "replayed 0, failed again 1") || !strings.Contains(errOut, "failed again "+id) {
		t.Errorf("replay unchanged: exit %d\n%s\n%s", code, out, errOut)
	}
	dl := kafkatest.ReadN(t, brokers, topics.dlq, 2, 30*time.Second)
	if ids := eventIDs(dl); len(ids) != 2 || ids[0] != ids[1] {
		t.Errorf("dead letters %v, want the same id twice", ids)
	}

	// Corrected, it publishes the message, and the status again (same id).
	fixed := filepath.Join("..", "..", "inbound", "testdata", "fixed", "metadata_missing.json")
	out, errOut, code = dlqTool(t, env, "dlq", "replay", id, "--url", listener, "--body", fixed, "--progress", "never")
	if code != 0 || !strings.Contains(out, "replayed 1, failed again 0") {
		t.Errorf("replay corrected: exit %d\n%s\n%s", code, out, errOut)
	}
	if m := kafkatest.ReadN(t, brokers, topics.messages, 1, 30*time.Second); len(m) != 1 {
		t.Errorf("%d message records, want 1", len(m))
	}
	statuses := eventIDs(kafkatest.ReadN(t, brokers, topics.statuses, 3, 30*time.Second))
	for _, s := range statuses {
		if s != first[0] {
			t.Errorf("status event ids %v, want %s each time", statuses, first[0])
		}
	}
	out, _, _ = dlqTool(t, env, "dlq", "list")
	if !strings.Contains(out, "(2 times)") || !strings.Contains(out, "1 dead letters") {
		t.Errorf("dlq list after the replays:\n%s", out)
	}
	p.stop(t)
}

// A command refused while the customer service window was closed is
// replayed once the user wrote: produced again with its key, headers and
// command id, sent once; replaying again produces nothing.
func TestDlqCommandReplay(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	registry, dec := testRegistry(t)
	httpAddr, admin := freeAddr(t), freeAddr(t)
	webhook := "http://" + httpAddr + "/webhook"
	api := d360test.New(d360test.Config{APIKey: "key-dlq", WebhookURL: webhook, WebhookHeaders: map[string]string{"X-Webhook-Token": "tok"}})
	srv := httptest.NewServer(api)
	t.Cleanup(func() { srv.Close(); api.Close() })
	apiSrv := srv.URL
	topics := newBridgeTopics(t)
	env := append(topics.env(3),
		"KAFKA_BROKERS="+strings.Join(brokers, ","), "SCHEMA_REGISTRY_URL="+registry,
		"D360_API_KEY=key-dlq", "D360_BASE_URL="+apiSrv, "WEBHOOK_TOKEN=tok",
		"WABRIDGE_HTTP_ADDR="+httpAddr, "WABRIDGE_ADMIN_ADDR="+admin, "WABRIDGE_PHONE_NUMBER_ID=100000000000001")
	p := start(t, env, "run")
	waitReady(t, p, admin)

	kafkatest.Produce(t, brokers, topics.commands, kafka.Message{
		Key:     []byte("15550003333"),
		Value:   []byte(`{"to":"15550003333","type":"text","text":{"body":"your order shipped"}}`),
		Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte("order-77")}, {Key: "trace", Value: []byte("t-1")}},
	})
	dl := kafkatest.ReadN(t, brokers, topics.dlq, 1, 60*time.Second)
	env0, _, err := dec.Decode(context.Background(), dl[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if len(api.Requests()) != 0 {
		t.Fatalf("the API was called for a command outside the window")
	}
	out, _, code := dlqTool(t, env, "dlq", "list", "-o", "json")
	var line map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &line) != nil || line["source"] != "command" || line["command_id"] != "order-77" {
		t.Fatalf("dlq list: exit %d\n%s", code, out)
	}
	id := line["event_id"].(string)

	// The user writes: the window opens.
	hook := `{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp",
	 "metadata":{"display_phone_number":"15550009999","phone_number_id":"100000000000001"},
	 "messages":[{"from":"15550003333","id":"wamid.DLQ-OPEN","timestamp":"` + fmt.Sprint(time.Now().Unix()) + `","type":"text","text":{"body":"where is it?"}}]}}]}]}`
	req, _ := http.NewRequest(http.MethodPost, webhook, strings.NewReader(hook))
	req.Header.Set("X-Webhook-Token", "tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("inbound webhook: %v %v", err, resp)
	}
	resp.Body.Close()
	kafkatest.ReadN(t, brokers, topics.messages, 1, 30*time.Second)

	out, errOut, code := dlqTool(t, env, "dlq", "replay", "--source", "command", "--progress", "never")
	if code != 0 || !strings.Contains(out, "replayed 1,") {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errOut)
	}
	cmds := kafkatest.ReadN(t, brokers, topics.commands, 2, 30*time.Second)
	replayed := cmds[1]
	if cmds[0].Offset > cmds[1].Offset && cmds[0].Partition == cmds[1].Partition {
		replayed = cmds[0]
	}
	if string(replayed.Key) != "15550003333" || header(replayed, outbound.HeaderCommandID) != "order-77" || header(replayed, "trace") != "t-1" ||
		header(replayed, HeaderReplayOf) != id {
		t.Errorf("replayed command key %q headers %v", replayed.Key, replayed.Headers)
	}
	if !bytes.Equal(replayed.Value, env0["original"].([]byte)) {
		t.Errorf("replayed command %q, want the original %q", replayed.Value, env0["original"])
	}
	res := kafkatest.ReadN(t, brokers, topics.results, 2, 60*time.Second)
	outcomes := map[string]int{}
	for _, m := range res {
		r, _, err := dec.Decode(context.Background(), m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if r["command_id"] != "order-77" {
			t.Errorf("result of %v, want order-77", r["command_id"])
		}
		outcomes[r["outcome"].(string)]++
	}
	if outcomes["accepted"] != 1 || len(api.Requests()) != 1 {
		t.Fatalf("outcomes %v, %d API requests; want one accepted send", outcomes, len(api.Requests()))
	}

	out, errOut, code = dlqTool(t, env, "dlq", "replay", "--source", "command", "--progress", "never")
	if code != 0 || !strings.Contains(out, "replayed 0,") || !strings.Contains(out, "already replayed 1") {
		t.Errorf("second replay: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := kafkatest.ReadUpTo(t, brokers, topics.commands, 3, 2*time.Second); len(got) != 2 {
		t.Errorf("%d command records after the second replay, want 2", len(got))
	}
	p.stop(t)
}

// header is the value of a record header.
func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestDlqExitCodes(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	b := "--brokers=" + strings.Join(brokers, ",")
	dlq := kafkatest.Topic(t, "dlq")
	kafkatest.CreateTopics(t, brokers, 1, dlq)
	tp := "--topic=" + dlq
	noRegistry := "--registry-url=http://" + freeAddr(t)
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"list: empty topic", []string{"dlq", "list", b, tp, noRegistry}, 0},
		{"list: bad --since", []string{"dlq", "list", b, tp, "--since", "yesterday"}, 2},
		{"list: bad --source", []string{"dlq", "list", b, tp, "--source", "email"}, 2},
		{"list: bad -o", []string{"dlq", "list", b, tp, "-o", "yaml"}, 2},
		{"list: no such topic", []string{"dlq", "list", b, "--topic=" + dlq + ".missing"}, 1},
		{"show: nothing named", []string{"dlq", "show", b, tp}, 2},
		{"show: unknown id", []string{"dlq", "show", b, tp, noRegistry, "dlq:webhook:0123"}, 1},
		{"show: filters without a match", []string{"dlq", "show", b, tp, noRegistry, "--source", "webhook"}, 0},
		{"replay: --body without one id", []string{"dlq", "replay", b, tp, "--body", "x.json"}, 2},
		{"replay: nothing to replay", []string{"dlq", "replay", b, tp, noRegistry, "--progress", "never"}, 0},
		{"replay: unknown id", []string{"dlq", "replay", b, tp, noRegistry, "--progress", "never", "99:99"}, 1},
		{"replay: unknown id, dry run", []string{"dlq", "replay", b, tp, noRegistry, "--dry-run", "dlq:webhook:0123"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, testCtx(t), tt.args...)
			if r.code != tt.code {
				t.Errorf("%q: exit %d, want %d (err %v)", tt.args, r.code, tt.code, r.err)
			}
		})
	}
}

// A body larger than a dead-letter record takes is kept in chunks; dlq
// puts them together: one dead letter, the body byte for byte.
func TestDlqPutsChunksTogether(t *testing.T) {
	brokers, topics, env, httpAddr, p := startInbound(t, "WABRIDGE_WEBHOOK_INSECURE=true")

	body := `{"object":"whatsapp_business_account","entry":[` + strings.Repeat(`"padding padding padding padding",`, 40000) + `]` // unterminated
	resp, err := http.Post("http://"+httpAddr+"/webhook", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %v %v", resp, err)
	}
	resp.Body.Close()
	if n := len(kafkatest.ReadN(t, brokers, topics.dlq, 3, 30*time.Second)); n != 3 {
		t.Fatalf("%d dead-letter records, want 3 chunks", n)
	}
	out, _, code := dlqTool(t, env, "dlq", "list")
	if code != 0 || !strings.Contains(out, "1 dead letters") || !strings.Contains(out, "invalid JSON") {
		t.Errorf("dlq list: exit %d\n%s", code, out)
	}
	out, _, code = dlqTool(t, env, "dlq", "show", "--source", "webhook", "--original")
	if code != 0 || out != body {
		t.Errorf("dlq show --original: exit %d, %d bytes, want the body's %d", code, len(out), len(body))
	}
	p.stop(t)
}
