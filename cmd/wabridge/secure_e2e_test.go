package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSecuredKafkaEndToEnd runs the bridge and the tools through the
// SASL_SSL listener of `KAFKA_SECURE=1 deploy/local-kafka.sh up` (skipped
// without it, as on a developer's machine; CI starts the broker that way):
// a command is sent and its result read, a webhook becomes a record, and no
// secret appears in any output. Then the three mistakes a user makes each
// end with one clear line and exit 1.
func TestSecuredKafkaEndToEnd(t *testing.T) {
	addr, caFile := os.Getenv("KAFKA_SECURE_BROKERS"), os.Getenv("KAFKA_SECURE_CA_FILE")
	user, pass := os.Getenv("KAFKA_SECURE_USER"), os.Getenv("KAFKA_SECURE_PASSWORD")
	if addr == "" {
		t.Skip("KAFKA_SECURE_BROKERS not set (start a broker with KAFKA_SECURE=1 deploy/local-kafka.sh up)")
	}
	suffix := fmt.Sprintf("-secure-%d", time.Now().UnixNano())
	topic := func(base string) string { return "wabridge." + base + suffix }
	security := []string{
		"KAFKA_BROKERS=" + addr, "KAFKA_TLS_CA_FILE=" + caFile,
		"KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "KAFKA_SASL_USERNAME=" + user, "KAFKA_SASL_PASSWORD=" + pass,
	}
	topics := []string{
		"WABRIDGE_TOPIC_COMMANDS=" + topic("commands"), "WABRIDGE_TOPIC_RESULTS=" + topic("results"),
		"WABRIDGE_TOPIC_MESSAGES=" + topic("messages"), "WABRIDGE_TOPIC_STATUSES=" + topic("statuses"),
		"WABRIDGE_TOPIC_DLQ=" + topic("dlq"), "WABRIDGE_TOPIC_LEDGER=" + topic("ledger"),
		"WABRIDGE_TOPIC_WEBHOOK_EVENTS=" + topic("events"), "WABRIDGE_TOPIC_WINDOWS=" + topic("windows"),
		"WABRIDGE_TOPIC_OPTIN=" + topic("optin"), "WABRIDGE_GROUP_ID=" + topic("group"), "WABRIDGE_TOPIC_PARTITIONS=2",
	}
	env := append(append([]string{}, security...), topics...)

	regPort, standinPort, httpPort, adminPort := freePort(t), freePort(t), freePort(t), freePort(t)
	admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
	hook := fmt.Sprintf("http://127.0.0.1:%d/webhook", httpPort)
	p := start(t, append(env, "WEBHOOK_TOKEN=secure-e2e-token"), "dev",
		fmt.Sprintf("--registry-port=%d", regPort), fmt.Sprintf("--standin-port=%d", standinPort),
		fmt.Sprintf("--http-addr=127.0.0.1:%d", httpPort), "--admin-addr="+admin)
	waitReady(t, p, admin)
	registry := fmt.Sprintf("SCHEMA_REGISTRY_URL=http://127.0.0.1:%d", regPort)

	var outputs []string
	tool := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Env = append(append(cleanEnv(), env...), registry)
		out, err := cmd.CombinedOutput()
		outputs = append(outputs, string(out))
		return string(out), err
	}

	out, err := tool("send", "--to=15550003333", "--text=through SASL_SSL", "--command-id=secure-1", "--topic="+topic("commands"),
		"--results-topic="+topic("results"), "--wait", "--timeout=60s")
	if err != nil || !strings.Contains(out, "accepted") {
		t.Fatalf("send --wait through SASL_SSL: %v\n%s", err, out)
	}

	body := `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999","phone_number_id":"100000000000001"},"contacts":[{"profile":{"name":"Jane"},"wa_id":"15550003333"}],"messages":[{"from":"15550003333","id":"wamid.SECURE1","timestamp":"1760000000","type":"text","text":{"body":"hi"}}]}}]}]}`
	req, _ := http.NewRequest(http.MethodPost, hook, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Token", "secure-e2e-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook through SASL_SSL answered %d", resp.StatusCode)
	}
	out, err = tool("tail", topic("messages"), "-e", "--max=1")
	if err != nil || !strings.Contains(out, "wamid.SECURE1") {
		t.Fatalf("tail through SASL_SSL: %v\n%s", err, out)
	}
	p.stop(t)

	outputs = append(outputs, p.out.String())
	for _, o := range outputs {
		if strings.Contains(o, pass) {
			t.Fatalf("the SASL password appears in an output:\n%s", o)
		}
	}
	if !strings.Contains(p.out.String(), `sasl=SCRAM-SHA-512`) && !strings.Contains(p.out.String(), `"sasl":"SCRAM-SHA-512"`) {
		t.Errorf("the start line does not say which SASL mechanism is used:\n%s", p.out.String())
	}

	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"wrong password", []string{"KAFKA_BROKERS=" + addr, "KAFKA_TLS_CA_FILE=" + caFile, "KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "KAFKA_SASL_USERNAME=" + user, "KAFKA_SASL_PASSWORD=wrong-" + pass[:4]}, "SASL_AUTHENTICATION_FAILED"},
		{"untrusted certificate", []string{"KAFKA_BROKERS=" + addr, "KAFKA_TLS=true", "KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "KAFKA_SASL_USERNAME=" + user, "KAFKA_SASL_PASSWORD=" + pass}, "certificate signed by unknown authority"},
		{"plaintext client", []string{"KAFKA_BROKERS=" + addr}, "tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, "topics")
			cmd.Env = append(cleanEnv(), tc.env...)
			out, err := cmd.CombinedOutput()
			msg := strings.TrimSpace(string(out))
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want 1:\n%s", err, msg)
			}
			if !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") > 0 {
				t.Fatalf("want one line containing %q, got:\n%s", tc.want, msg)
			}
			if strings.Contains(msg, pass) {
				t.Fatalf("the password appears in the error: %s", msg)
			}
		})
	}
}
