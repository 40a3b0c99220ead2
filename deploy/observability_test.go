package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/devstack"
)

// The operations pack: deploy/observability/ holds a Grafana dashboard and a
// PrometheusRule. A dashboard of metric names the binary does not serve
// shows empty panels and an alert on them never fires, so these tests run
// the binary, scrape its /metrics and check every name queried.

const (
	dashboardFile = "observability/grafana-dashboard.json"
	rulesFile     = "observability/prometheusrule.yaml"
)

// grafanaDashboard is the part of Grafana's dashboard JSON model the pack
// uses (https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/).
type grafanaDashboard struct {
	Title  string `json:"title"`
	UID    string `json:"uid"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// prometheusRule is the part of the Prometheus Operator's PrometheusRule
// (monitoring.coreos.com/v1) the pack uses, decoded strictly: a misspelt
// field fails.
type prometheusRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// queries returns every PromQL expression of the dashboard and the rules,
// each with where it comes from.
func queries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}

	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: want a uid, a title and panels", dashboardFile)
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("%s: panel id %d twice", dashboardFile, p.ID)
		}
		ids[p.ID] = true
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: panel %q does not use the datasource variable", dashboardFile, p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
		}
		for _, tg := range p.Targets {
			out[tg.Expr] = fmt.Sprintf("%s panel %q", dashboardFile, p.Title)
		}
	}

	b, err = os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var r prometheusRule
	if err := unmarshalStrict(b, &r); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if r.APIVersion != "monitoring.coreos.com/v1" || r.Kind != "PrometheusRule" || r.Metadata.Name == "" {
		t.Fatalf("%s: %s %s %q is no PrometheusRule", rulesFile, r.APIVersion, r.Kind, r.Metadata.Name)
	}
	n := 0
	for _, g := range r.Spec.Groups {
		for _, rule := range g.Rules {
			n++
			if rule.Alert == "" || rule.Annotations["summary"] == "" || rule.Annotations["description"] == "" {
				t.Errorf("%s: rule %q needs an alert name, a summary and a description", rulesFile, rule.Alert)
			}
			if sev := rule.Labels["severity"]; sev != "warning" && sev != "critical" {
				t.Errorf("%s: alert %s has severity %q, want warning or critical", rulesFile, rule.Alert, sev)
			}
			if rule.For != "" {
				if _, err := time.ParseDuration(rule.For); err != nil {
					t.Errorf("%s: alert %s: for %q: %v", rulesFile, rule.Alert, rule.For, err)
				}
			}
			out[rule.Expr] = fmt.Sprintf("%s alert %s", rulesFile, rule.Alert)
		}
	}
	if n == 0 {
		t.Fatalf("%s holds no rule", rulesFile)
	}
	for expr, where := range out {
		if err := balanced(expr); err != nil {
			t.Errorf("%s: %q: %v", where, expr, err)
		}
	}
	return out
}

// balanced checks the brackets of a PromQL expression, outside strings.
func balanced(expr string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inString := false
	for _, c := range expr {
		switch {
		case c == '"':
			inString = !inString
		case inString:
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case pairs[c] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return fmt.Errorf("unbalanced %q", c)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if inString || len(stack) > 0 {
		return fmt.Errorf("unclosed %q", stack)
	}
	return nil
}

var metricName = regexp.MustCompile(`\b((?:wabridge|process)_[a-z0-9_]+)`)

// family strips the suffixes Prometheus adds to a histogram's series.
func family(name string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(name, s); ok && !strings.HasSuffix(f, "_total") {
			return f
		}
	}
	return name
}

// TestObservabilityQueriesNameServedMetrics runs `dev` on free ports, sends
// it a webhook and a command, scrapes /metrics and checks that every metric
// the dashboard and the alerts query is served.
func TestObservabilityQueriesNameServedMetrics(t *testing.T) {
	qs := queries(t)
	names := map[string][]string{}
	for expr, where := range qs {
		for _, m := range metricName.FindAllStringSubmatch(expr, -1) {
			names[family(m[1])] = append(names[family(m[1])], where)
		}
	}
	if len(names) < 10 {
		t.Fatalf("only %d metric names found in the pack: %v", len(names), names)
	}

	d := startDev(t)
	admin, hook, kport := d.admin, d.hook, d.kport

	if code := postWebhook(t, hook); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	send := exec.Command(binary, "send", "--brokers", "127.0.0.1:"+kport, "--to", "15551234567", "--text", "metrics check")
	if out, err := send.CombinedOutput(); err != nil {
		t.Fatalf("send: %v\n%s", err, out)
	}

	var served map[string]bool
	waitFor(t, 60*time.Second, "the command's send in /metrics", func() bool {
		served = scrape(t, "http://"+admin+"/metrics")
		return served["wabridge_build_info"] && served["wabridge_consumer_lag_records"] && served["wabridge_api_request_duration_seconds"] &&
			served["wabridge_kafka_produce_bytes_total"] && served["wabridge_kafka_fetch_bytes_total"]
	})
	var missing []string
	for name, where := range names {
		if !served[name] {
			missing = append(missing, fmt.Sprintf("%s (queried by %s)", name, strings.Join(slices.Compact(slices.Sorted(slices.Values(where))), "; ")))
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Fatalf("the pack queries metrics /metrics does not serve:\n%s", strings.Join(missing, "\n"))
	}

	// Every long-lived Kafka client has its own kprom series.
	body := get(t, "http://"+admin+"/metrics")
	for _, client := range []string{"wabridge-outbound", "wabridge-outbound-ledger", "wabridge-window-producer", "wabridge-window-consumer", "wabridge-admin"} {
		if !strings.Contains(body, `wabridge_kafka_connects_total{client_id="`+client+`"`) {
			t.Errorf("/metrics has no wabridge_kafka_connects_total of client %s", client)
		}
	}
}

// get returns the body of url.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDrainOnSIGTERM: from SIGTERM on /readyz answers 503, and for
// --shutdown-drain the listener still takes webhooks.
func TestDrainOnSIGTERM(t *testing.T) {
	d := startDev(t, "--shutdown-drain", "3s")
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "/readyz 503 after SIGTERM", func() bool {
		resp, err := http.Get("http://" + d.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if code := postWebhook(t, d.hook); code != http.StatusOK {
		t.Fatalf("a webhook during the drain answered %d, want 200", code)
	}
}

type devProc struct {
	cmd                *exec.Cmd
	admin, hook, kport string
}

// startDev runs the binary's dev on free ports and waits until it is ready.
func startDev(t *testing.T, args ...string) devProc {
	t.Helper()
	d := devProc{admin: freeLocalAddr(t), hook: freeLocalAddr(t)}
	d.kport = freeLocalAddr(t)[len("127.0.0.1:"):]
	d.cmd = exec.Command(binary, append([]string{"dev",
		"--http-addr", d.hook, "--admin-addr", d.admin,
		"--kafka-port", d.kport,
		"--registry-port", freeLocalAddr(t)[len("127.0.0.1:"):],
		"--standin-port", freeLocalAddr(t)[len("127.0.0.1:"):],
	}, args...)...)
	cmd := d.cmd
	cmd.Env = append(os.Environ(), "KAFKA_BROKERS=", "SCHEMA_REGISTRY_URL=", "D360_API_KEY=", "WEBHOOK_TOKEN=observability-test")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("dev's output:\n%s", logs.String())
		}
	})
	waitFor(t, 90*time.Second, "dev ready", func() bool {
		resp, err := http.Get("http://" + d.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return d
}

// postWebhook posts an inbound text message with dev's token and returns
// the answer's status.
func postWebhook(t *testing.T, hook string) int {
	t.Helper()
	body, err := os.ReadFile("../inbound/testdata/text_with_profile.json")
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+hook+"/webhook", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Token", "observability-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// scrape returns the metric families /metrics announces (# TYPE lines).
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = true
		}
	}
	return out
}

func freeLocalAddr(t *testing.T) string {
	t.Helper()
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// waitFor polls ok every 200 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}
