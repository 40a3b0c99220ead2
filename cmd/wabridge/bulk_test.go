package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/outbound"
)

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func templateDef(t *testing.T, dir string) string {
	t.Helper()
	b, _ := json.Marshal(d360test.DefaultTemplates())
	return writeFile(t, dir, "templates.json", string(b))
}

func bulkArgs(dir, file string, extra ...string) []string {
	return append([]string{"bulk", file, "--campaign=c1", "--template=order_update", "--language=en_US",
		"--param=header=order_id", "--param=body.1=first_name", "--set=body.2=on its way", "--param=button.0=order_id",
		"--template-def=" + filepath.Join(dir, "templates.json"), "--api-key=", "--progress=never",
		"--rejects=" + filepath.Join(dir, "rejects.csv"), "--state=" + filepath.Join(dir, "c1.state")}, extra...)
}

func TestBulkDryRunWritesRejects(t *testing.T) {
	dir := t.TempDir()
	templateDef(t, dir)
	file := writeFile(t, dir, "contacts.csv", "\xEF\xBB\xBFphone,first_name,order_id\n"+
		"+1 555 000 1111,\"Smith, Jane\",42\n"+
		"\n"+
		"123,Bob,43\n"+
		"15550001111,Again,44\n"+
		"15550002222,,45\n"+
		"15550003333,Ann\n"+
		"15550004444,Zoe,46\n")
	r := runCLI(t, testCtx(t), bulkArgs(dir, file, "--dry-run", "--max-rejects=-1")...)
	if r.code != 1 || !strings.Contains(r.err.Error(), "4 rows rejected (see") {
		t.Fatalf("exit %d: %v, want 1 for the rejected rows\n%s", r.code, r.err, r.stderr)
	}
	if !strings.Contains(r.stdout, "dry run: 2 commands would be produced") || !strings.Contains(r.stdout, "Smith, Jane") || !strings.Contains(r.stdout, "bulk:c1:15550001111") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "6 rows, 2 valid, 4 rejected") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	f, _ := os.Open(filepath.Join(dir, "rejects.csv"))
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"phone", "first_name", "order_id", "wabridge_line", "wabridge_error"},
		{"123", "Bob", "43", "4", `column "phone" (recipient): must have 8 to 15 digits (country code and number), got 3`},
		{"15550001111", "Again", "44", "5", "duplicate recipient 15550001111: line 2 has it already"},
		{"15550002222", "", "45", "6", `column "first_name" (body.1): empty value`},
		{"15550003333", "Ann", "", "7", `2 fields, the header has 3 (a comma inside a value needs quotes: "Smith, Jane")`},
	}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Errorf("rejects:\n%q\nwant\n%q", recs, want)
	}

	// With the default --max-rejects 0 the same file stops with exit 1.
	r = runCLI(t, testCtx(t), bulkArgs(dir, file, "--dry-run")...)
	if r.code != 1 || !strings.Contains(r.err.Error(), "4 rows rejected") {
		t.Errorf("exit %d err %v, want 1 and 4 rows rejected", r.code, r.err)
	}
}

func TestBulkRefusesBadInputUpFront(t *testing.T) {
	dir := t.TempDir()
	templateDef(t, dir)
	ctx := testCtx(t)
	good := writeFile(t, dir, "good.csv", "phone,first_name,order_id\n15550001111,Jane,42\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown template", []string{"bulk", good, "--campaign=c1", "--template=order_updat", "--language=en_US", "--template-def=" + filepath.Join(dir, "templates.json"), "--api-key=", "--dry-run"}, "no template order_updat in en_US"},
		{"bad campaign", []string{"bulk", good, "--campaign=spring sale", "--template=t", "--language=en", "--api-key="}, "--campaign"},
		{"empty file", []string{"bulk", writeFile(t, dir, "empty.csv", ""), "--campaign=c1", "--template=t", "--language=en", "--set=body.1=x", "--api-key=", "--dry-run"}, "the file is empty"},
		{"UTF-16", []string{"bulk", writeFile(t, dir, "u16.csv", "\xFF\xFEp\x00h\x00"), "--campaign=c1", "--template=t", "--language=en", "--api-key=", "--dry-run"}, "UTF-16"},
		{"mapping file with unknown key", []string{"bulk", good, "--campaign=c1", "--template=t", "--language=en", "--api-key=", "--dry-run",
			"--mapping=" + writeFile(t, dir, "m.json", `{"to":"phone","param":{"body.1":"first_name"}}`)}, `unknown field "param"`},
		{"slot mapped twice", []string{"bulk", good, "--campaign=c1", "--template=t", "--language=en", "--api-key=", "--dry-run", "--param=body.1=first_name", "--set=body.1=x"}, "mapped twice"},
		{"button type unknown without a template", []string{"bulk", good, "--campaign=c1", "--template=t", "--language=en", "--api-key=", "--dry-run", "--param=button.0=order_id"}, "say the button's parameter type"},
		{"negative expiry", []string{"bulk", good, "--campaign=c1", "--template=t", "--language=en", "--api-key=", "--expires-in=-1h"}, "--expires-in"},
		{"max-rejects below -1", []string{"bulk", good, "--campaign=c1", "--template=t", "--language=en", "--api-key=", "--max-rejects=-2"}, "--max-rejects"},
		{"brokers not host:port", []string{"bulk", good, "--campaign=c1", "--template=t", "--language=en", "--api-key=", "--set=body.1=x", "--brokers=nohost"}, "want host:port"},
	}
	for _, tt := range tests {
		r := runCLI(t, ctx, tt.args...)
		if r.code != 2 || r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
			t.Errorf("%s: exit %d err %v, want 2 and %q", tt.name, r.code, r.err, tt.want)
		}
	}
	// An unknown column is named with the closest one.
	args := []string{"bulk", good, "--campaign=c1", "--template=order_update", "--language=en_US", "--api-key=", "--dry-run",
		"--template-def=" + filepath.Join(dir, "templates.json"),
		"--param=header=order_id", "--param=body.1=firstname", "--set=body.2=x", "--param=button.0=order_id"}
	r := runCLI(t, ctx, args...)
	if r.code != 2 || !strings.Contains(r.err.Error(), `did you mean "first_name"?`) {
		t.Errorf("unknown column: exit %d err %v", r.code, r.err)
	}
}

func TestBulkUnknownTemplateFromTheCatalogue(t *testing.T) {
	e := newEnv(t, d360test.Config{})
	dir := t.TempDir()
	file := writeFile(t, dir, "c.csv", "phone,first_name\n15550001111,Jane\n")
	r := runCLI(t, testCtx(t), append([]string{"bulk", file, "--campaign=c1", "--template=order_updat", "--language=en_US", "--param=body.1=first_name", "--dry-run"}, e.apiFlags(testKey)...)...)
	if r.code != 2 || !strings.Contains(r.err.Error(), "did you mean order_update") {
		t.Fatalf("exit %d err %v", r.code, r.err)
	}
	r = runCLI(t, testCtx(t), append([]string{"bulk", file, "--campaign=c1", "--template=order_update", "--language=en_US", "--param=body.1=first_name", "--dry-run"}, e.apiFlags(testKey)...)...)
	if r.code != 2 || !strings.Contains(r.err.Error(), "body takes 2 parameters, the send gives 1") {
		t.Fatalf("exit %d err %v", r.code, r.err)
	}
}

// commandsByRecipient reads every command of the topic.
func commandsByRecipient(t *testing.T, brokers, topic string, n int) map[string]int {
	t.Helper()
	got := kafkatest.ReadUpTo(t, strings.Split(brokers, ","), topic, n+1, 3*time.Second)
	out := map[string]int{}
	for _, m := range got {
		id, _ := kafkaHeader(m, outbound.HeaderCommandID)
		out[id]++
	}
	return out
}

func kafkaHeader(m kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// A re-run after a crash produces only what was not produced before: what
// the progress file lists and what the command topic holds (the progress
// file's lost tail) are both skipped, so nobody gets two commands.
func TestBulkRerunNeverProducesTwice(t *testing.T) {
	e := newEnv(t, d360test.Config{})
	dir := t.TempDir()
	templateDef(t, dir)
	var rows strings.Builder
	rows.WriteString("phone,first_name,order_id\n")
	for i := range 30 {
		fmt.Fprintf(&rows, "1555000%04d,Name %d,%d\n", i, i, i)
	}
	file := writeFile(t, dir, "c.csv", rows.String())
	ctx := testCtx(t)

	// The crashed run: recipients 0-9 in the progress file, 10-14 only on
	// the command topic (acknowledged, the progress file's tail lost).
	var state strings.Builder
	state.WriteString(`{"campaign":"c1","template":"order_update","language":"en_US","input":"c.csv","started_at":"` + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + `"}` + "\n")
	for i := range 10 {
		fmt.Fprintf(&state, "1555000%04d\n", i)
	}
	writeFile(t, dir, "c1.state", state.String())
	var pre []kafka.Message
	for i := 10; i < 15; i++ {
		key := fmt.Sprintf("1555000%04d", i)
		pre = append(pre, kafka.Message{Key: []byte(key), Value: []byte(`{}`), Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte("bulk:c1:" + key)}}})
	}
	kafkatest.Produce(t, strings.Split(e.brokers, ","), e.commands, pre...)

	r := runCLI(t, ctx, append(bulkArgs(dir, file, "--rate=0"), e.kafkaFlags("")[1:]...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %v\n%s", r.code, r.err, r.stderr)
	}
	if !strings.Contains(r.stderr, "produced 15 commands") || !strings.Contains(r.stderr, "15 skipped") || !strings.Contains(r.stderr, "5 commands of campaign c1 already there (5 not in the progress file)") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	ids := commandsByRecipient(t, e.brokers, e.commands, 20)
	if len(ids) != 20 {
		t.Errorf("command topic holds %d campaign commands, want 20 (5 before, 15 now)", len(ids))
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s produced %d times", id, n)
		}
	}
	for i := 0; i < 10; i++ {
		if ids[fmt.Sprintf("bulk:c1:1555000%04d", i)] != 0 {
			t.Errorf("recipient %d of the progress file was produced again", i)
		}
	}

	// The progress file now lists all 30 (10 + 5 found on the topic + 15).
	b, _ := os.ReadFile(filepath.Join(dir, "c1.state"))
	if lines := strings.Count(string(b), "\n"); lines != 31 {
		t.Errorf("progress file has %d lines, want the header and 30 recipients:\n%s", lines, b)
	}

	// A second run produces nothing.
	r = runCLI(t, ctx, append(bulkArgs(dir, file, "--rate=0"), e.kafkaFlags("")[1:]...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "produced 0 commands") || !strings.Contains(r.stderr, "30 skipped") {
		t.Errorf("second run: exit %d err %v\n%s", r.code, r.err, r.stderr)
	}
	// Without the progress file the command topic alone protects.
	os.Remove(filepath.Join(dir, "c1.state"))
	r = runCLI(t, ctx, append(bulkArgs(dir, file, "--rate=0"), e.kafkaFlags("")[1:]...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "produced 10 commands") {
		t.Errorf("run without progress file: exit %d err %v\n%s", r.code, r.err, r.stderr)
	}
	ids = commandsByRecipient(t, e.brokers, e.commands, 30)
	if len(ids) != 30 {
		t.Errorf("%d distinct commands, want 30", len(ids))
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s produced %d times", id, n)
		}
	}
}

func TestBulkLockKeepsTwoRunsApart(t *testing.T) {
	e := newEnv(t, d360test.Config{})
	dir := t.TempDir()
	templateDef(t, dir)
	file := writeFile(t, dir, "c.csv", "phone,first_name,order_id\n15550001111,Jane,42\n")
	host, _ := os.Hostname()
	writeFile(t, dir, "c1.state.lock", fmt.Sprintf(`{"pid":%d,"host":%q,"at":"2026-01-01T00:00:00Z"}`, os.Getpid(), host))
	r := runCLI(t, testCtx(t), append(bulkArgs(dir, file), e.kafkaFlags("")[1:]...)...)
	if r.code != 1 || !strings.Contains(r.err.Error(), "another run of this campaign holds") {
		t.Fatalf("exit %d err %v", r.code, r.err)
	}
	// A lock whose process is gone is taken over.
	writeFile(t, dir, "c1.state.lock", fmt.Sprintf(`{"pid":%d,"host":%q,"at":"2026-01-01T00:00:00Z"}`, 1<<30, host))
	r = runCLI(t, testCtx(t), append(bulkArgs(dir, file), e.kafkaFlags("")[1:]...)...)
	if r.code != 0 {
		t.Fatalf("stale lock: exit %d err %v\n%s", r.code, r.err, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "c1.state.lock")); !os.IsNotExist(err) {
		t.Errorf("lock file left behind: %v", err)
	}
}

// The whole campaign through the bridge: rows in, commands out, results
// followed to a summary by error code and a report.
func TestBulkWaitSummarisesResults(t *testing.T) {
	e := newEnv(t, d360test.Config{Reply: func(r d360test.Request) *d360test.Reply {
		if bytes.Contains(r.Body, []byte(`"15550000007"`)) {
			return &d360test.Reply{Status: 400, Body: `{"error":{"message":"(#131026) Message undeliverable","type":"OAuthException","code":131026,"title":"Message undeliverable","error_data":{"details":"cannot be reached"}}}`}
		}
		return nil
	}})
	e.startBridge(t)
	dir := t.TempDir()
	var rows strings.Builder
	rows.WriteString(`{"phone":"15550000000","name":"Jane","order":1}` + "\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&rows, `{"phone":"155500000%02d","name":"Name %d","order":%d}`+"\n", i, i, 100+i)
	}
	rows.WriteString(`{"phone":"15550000099","order":5}` + "\n") // no name: rejected
	file := writeFile(t, dir, "c.jsonl", rows.String())
	report := filepath.Join(dir, "report.csv")
	args := append([]string{"bulk", file, "--campaign=w1", "--template=order_update", "--language=en_US",
		"--param=header=order", "--param=body.1=name", "--set=body.2=shipped", "--param=button.0=order",
		"--max-rejects=1", "--progress=always", "--rate=0", "--wait", "--wait-timeout=90s", "--report=" + report,
		"--rejects=" + filepath.Join(dir, "rejects.jsonl"), "--state=" + filepath.Join(dir, "w1.state")},
		append(e.kafkaFlags("")[1:], e.apiFlags(testKey)...)...)
	r := runCLI(t, testCtx(t), args...)
	if r.code != 1 {
		t.Fatalf("exit %d err %v, want 1 (one failed)\n%s", r.code, r.err, r.stderr)
	}
	// The row rejected before producing counts as rejected.
	want := "campaign w1: accepted 11, rejected 1 (invalid row: 1), failed 1 (131026 Message undeliverable: 1)\n"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	// The summary has a line of its own: the bar ended its line.
	if !strings.Contains(r.stderr, "producing") || !strings.Contains(r.stderr, "rows") || strings.HasSuffix(r.stderr, "]") {
		t.Errorf("no progress bar on stderr:\n%s", r.stderr)
	}
	rej, _ := os.ReadFile(filepath.Join(dir, "rejects.jsonl"))
	if !strings.Contains(string(rej), `"line":13`) || !strings.Contains(string(rej), `field \"name\" missing`) {
		t.Errorf("rejects: %s", rej)
	}
	f, _ := os.Open(report)
	recs, _ := csv.NewReader(f).ReadAll()
	f.Close()
	if len(recs) != 13 {
		t.Fatalf("report has %d lines, want header + 12", len(recs))
	}
	for _, rec := range recs[1:] {
		if rec[0] == "15550000007" && (rec[2] != "failed" || rec[5] != "131026") || rec[0] != "15550000007" && (rec[2] != "accepted" || !strings.HasPrefix(rec[3], "wamid.")) {
			t.Errorf("report line %q", rec)
		}
	}
	// Every API call carried the campaign's command id as callback data.
	if n := len(e.api.Requests()); n != 12 {
		t.Errorf("API got %d requests, want 12", n)
	}
	for _, req := range e.api.Requests() {
		var b struct {
			To string `json:"to"`
			CB string `json:"biz_opaque_callback_data"`
		}
		json.Unmarshal(req.Body, &b)
		if b.CB != "bulk:w1:"+b.To {
			t.Errorf("request to %s has callback data %q", b.To, b.CB)
		}
	}
	if strings.Contains(r.stdout+r.stderr, testKey) {
		t.Errorf("the API key was printed")
	}

	// Waiting again reads the same results from the campaign's start.
	r = runCLI(t, testCtx(t), args...)
	if !strings.Contains(r.stdout, want) || !strings.Contains(r.stderr, "produced 0 commands") {
		t.Errorf("re-run: stdout %q\n%s", r.stdout, r.stderr)
	}

	// The exit code does not depend on --wait: a row rejected before
	// producing exits 1 with and without it, though every command produced
	// was accepted; a clean file exits 0.
	campaign := func(name string, rows string, extra ...string) cliResult {
		t.Helper()
		file := writeFile(t, dir, name+".jsonl", rows)
		a := append([]string{"bulk", file, "--campaign=" + name, "--template=order_update", "--language=en_US",
			"--param=header=order", "--param=body.1=name", "--set=body.2=shipped", "--param=button.0=order",
			"--max-rejects", "-1", "--progress=never", "--rate=0", "--wait-timeout=90s",
			"--rejects=" + filepath.Join(dir, name+".rejects.jsonl"), "--state=" + filepath.Join(dir, name+".state")},
			append(e.kafkaFlags("")[1:], e.apiFlags(testKey)...)...)
		return runCLI(t, testCtx(t), append(a, extra...)...)
	}
	clean := `{"phone":"15550000101","name":"A","order":1}` + "\n" + `{"phone":"15550000102","name":"B","order":2}` + "\n"
	mixed := `{"phone":"15550000201","name":"A","order":1}` + "\n" + `{"phone":"15550000299","order":2}` + "\n"
	if r := campaign("w2", mixed, "--wait"); r.code != 1 || !strings.Contains(r.stdout, "accepted 1, rejected 1 (invalid row: 1), failed 0") || !strings.Contains(r.err.Error(), "1 rows rejected") {
		t.Errorf("rejected row with --wait: exit %d err %v stdout %q", r.code, r.err, r.stdout)
	}
	if r := campaign("w3", strings.ReplaceAll(mixed, "02", "03")); r.code != 1 || !strings.Contains(r.err.Error(), "1 rows rejected") {
		t.Errorf("rejected row without --wait: exit %d err %v", r.code, r.err)
	}
	if r := campaign("w4", clean, "--wait"); r.code != 0 || !strings.Contains(r.stdout, "accepted 2, rejected 0, failed 0") {
		t.Errorf("clean file with --wait: exit %d err %v stdout %q", r.code, r.err, r.stdout)
	}
	if r := campaign("w5", strings.ReplaceAll(clean, "01", "05")); r.code != 0 {
		t.Errorf("clean file without --wait: exit %d err %v", r.code, r.err)
	}
}
