package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

// devStack is a running `wabridge dev` on free ports, with the banner it
// printed.
type devStack struct {
	proc   *proc
	banner string
	env    []string // the banner's export line
}

func startDev(t *testing.T) *devStack {
	t.Helper()
	admin := freeAddr(t)
	p := start(t, nil, "dev",
		fmt.Sprintf("--kafka-port=%d", freePort(t)), fmt.Sprintf("--registry-port=%d", freePort(t)),
		fmt.Sprintf("--standin-port=%d", freePort(t)), "--http-addr="+freeAddr(t), "--admin-addr="+admin)
	waitReady(t, p, admin)
	out := p.out.String()
	i := strings.Index(out, "wabridge dev is running")
	if i < 0 {
		t.Fatalf("no banner:\n%s", out)
	}
	d := &devStack{proc: p, banner: out[i:]}
	for _, line := range strings.Split(d.banner, "\n") {
		if rest, ok := strings.CutPrefix(line, "  export "); ok {
			d.env = strings.Fields(rest)
		}
	}
	if len(d.env) == 0 {
		t.Fatalf("the banner has no export line:\n%s", d.banner)
	}
	return d
}

// workDir is a directory with the files the examples name, and the
// environment that runs them: the dev stack's variables and this binary as
// "wabridge" on PATH.
func workDir(t *testing.T, d *devStack) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"contacts.csv":   "phone,first_name,order_id\n15550003001,Jane,42\n15550003002,Bob,43\n",
		"contacts.jsonl": `{"msisdn":"15550004001","name":"Ann"}` + "\n" + `{"msisdn":"15550004002","name":"Ben"}` + "\n",
		"mapping.json":   `{"to": "phone", "params": {"header": "order_id", "body.1": "first_name", "button.0": "order_id"}, "set": {"body.2": "on its way"}}`,
		"banner.jpg":     "\xFF\xD8\xFF\xE0\x00\x10JFIF\x00" + strings.Repeat("\x00", 256),
		"report.bin":     "%PDF-1.4\n" + strings.Repeat("x", 256),
		"template.json":  `{"name":"order_note","language":"en_US","category":"UTILITY","components":[{"type":"BODY","text":"Your order {{1}} is ready.","example":{"body_text":[["42"]]}}]}`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(cleanEnv(), d.env...)
	for i, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			env[i] = "PATH=" + filepath.Dir(binary) + string(os.PathListSeparator) + kv[len("PATH="):]
		}
	}
	return dir, env
}

// following matches a tail that follows new records until Ctrl-C: the
// test lets it run for a while and stops it.
var following = regexp.MustCompile(`^wabridge tail\b`)

// runScript runs lines as one sh script with set -e; a tail that follows
// runs for 3 seconds and counts as passed if it is still running then.
func runScript(t *testing.T, dir string, env []string, lines []string) string {
	t.Helper()
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, l := range lines {
		if following.MatchString(l) && !strings.Contains(l, " -e") && !strings.Contains(l, "--max") {
			l = "timeout 3 " + l + " || [ $? -eq 124 ]"
		}
		script.WriteString("echo '+ " + strings.ReplaceAll(l, "'", `'\''`) + "' >&2\n" + l + "\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script.String())
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("examples failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	return string(out)
}

// helpExamples returns the example commands of every command's --help, by
// command: the indented lines of its Examples block, continuation lines
// joined.
func helpExamples(t *testing.T) map[string][]string {
	t.Helper()
	var cli CLI
	parser, err := newParser(context.Background(), &cli)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	_ = kong.Visit(parser.Model, func(n kong.Visitable, next kong.Next) error {
		node, ok := n.(*kong.Node)
		if !ok {
			return next(nil)
		}
		_, block, found := strings.Cut(node.Detail, "Examples:\n")
		if !found {
			return next(nil)
		}
		var cmds []string
		sc := bufio.NewScanner(strings.NewReader(block))
		joined := ""
		for sc.Scan() {
			line := sc.Text()
			if strings.TrimSpace(line) == "" {
				continue
			}
			if !strings.HasPrefix(line, "    ") {
				break // the end of the block (e.g. "mapping.json:")
			}
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "#") {
				continue
			}
			if l, more := strings.CutSuffix(line, `\`); more {
				joined += l
				continue
			}
			cmds = append(cmds, joined+line)
			joined = ""
		}
		out[node.Path()] = cmds
		return next(nil)
	})
	return out
}

// Every example of --help and of dev's banner runs, as printed, against
// `wabridge dev`.
func TestDocumentedExamplesRun(t *testing.T) {
	d := startDev(t)
	dir, env := workDir(t, d)

	t.Run("banner", func(t *testing.T) {
		var lines []string
		for _, line := range strings.Split(d.banner, "\n") {
			l := strings.TrimPrefix(line, "  ")
			if strings.HasPrefix(l, binary+" ") || strings.HasPrefix(l, "curl ") {
				lines = append(lines, strings.Replace(l, binary, "wabridge", 1))
			}
		}
		if len(lines) < 6 {
			t.Fatalf("the banner has %d commands:\n%s", len(lines), d.banner)
		}
		out := runScript(t, dir, env, lines)
		// The inbound message the banner's curl posted was read back.
		if !strings.Contains(out, `"message_id":"wamid.DEV1"`) {
			t.Errorf("the posted message is not on the messages topic:\n%s", out)
		}
	})

	examples := helpExamples(t)
	// topics: its examples create topics with a replication the one
	// in-process broker cannot give; they run against a real broker
	// (topics_test.go).
	order := []string{"send", "tail", "media", "optin", "bulk", "templates", "dlq"}
	for _, cmd := range order {
		t.Run(cmd, func(t *testing.T) {
			lines := examples[cmd]
			if len(lines) == 0 {
				t.Fatalf("%s --help has no examples", cmd)
			}
			runScript(t, dir, env, lines)
		})
	}
	for cmd := range examples {
		if cmd != "topics" && !strings.Contains(strings.Join(order, " "), cmd) {
			t.Errorf("the examples of %s --help are not run", cmd)
		}
	}
}

// readmeBlocks returns the commands of the README's ```sh blocks, by the
// heading above each block, continuation lines joined.
func readmeBlocks(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	heading, in, joined := "", false, ""
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case !in && strings.HasPrefix(line, "#"):
			heading = strings.TrimLeft(line, "# ")
		case !in && line == "```sh":
			in = true
		case in && line == "```":
			in = false
		case in:
			if l, more := strings.CutSuffix(strings.TrimRight(line, " "), `\`); more {
				joined += strings.TrimSpace(l) + " "
				continue
			}
			out[heading] = append(out[heading], joined+strings.TrimSpace(line))
			joined = ""
		}
	}
	return out
}

// runFromReadme starts `wabridge run` with the environment the README's
// "Run it for real" block exports, each variable given the dev stack's
// value (hosts and keys of the example do not exist here), and waits until
// it is ready: the snippet names every variable run needs.
func runFromReadme(t *testing.T, d *devStack, lines []string) {
	t.Helper()
	dev := map[string]string{"WABRIDGE_PHONE_NUMBER_ID": "100000000000001", "WEBHOOK_TOKEN": "readme-token"}
	for _, kv := range d.env {
		k, v, _ := strings.Cut(kv, "=")
		dev[k] = v
	}
	var env []string
	ran := false
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "export "); ok {
			name, _, _ := strings.Cut(rest, "=")
			v, ok := dev[name]
			if !ok {
				t.Fatalf("the README exports %s, which the test cannot give a value", name)
			}
			env = append(env, name+"="+v)
			continue
		}
		if strings.HasPrefix(l, "wabridge run") {
			ran = true
		}
	}
	if !ran {
		t.Fatalf("no `wabridge run` in the block: %q", lines)
	}
	// The API's address: the README's default is the production API.
	env = append(env, "D360_BASE_URL="+dev["D360_BASE_URL"])
	admin := freeAddr(t)
	p := start(t, append(env, "WABRIDGE_ADMIN_ADDR="+admin, "WABRIDGE_HTTP_ADDR="+freeAddr(t), "WABRIDGE_GROUP_ID=readme-run"), "run")
	waitReady(t, p, admin)
	p.stop(t)
}

// The README's tour runs as written against dev; its run snippet starts.
func TestReadmeExamplesRun(t *testing.T) {
	blocks := readmeBlocks(t)
	tour, real := blocks["A five-minute tour"], blocks["Run it for real"]
	if len(tour) < 5 || len(real) < 2 {
		t.Fatalf("README blocks moved? tour %q, run %q", tour, real)
	}
	d := startDev(t)
	dir, env := workDir(t, d)
	var lines []string
	for _, l := range tour {
		// The export and alias lines set up what workDir's environment
		// already has: the banner's values and wabridge on PATH.
		if strings.HasPrefix(l, "export ") || strings.HasPrefix(l, "alias ") {
			continue
		}
		lines = append(lines, l)
	}
	out := runScript(t, dir, env, lines)
	if !strings.Contains(out, "campaign tour: accepted 2, rejected 0, failed 0") {
		t.Errorf("the tour's campaign did not end accepted:\n%s", out)
	}
	runFromReadme(t, d, real)
}

// The README's exit code table is --help's.
func TestReadmeExitCodes(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"0", "1", "2"} {
		row := regexp.MustCompile(`(?m)^\| ` + code + ` \| (.*) \|$`).FindStringSubmatch(string(b))
		help := regexp.MustCompile(`(?m)^  ` + code + `  (.*)$`).FindStringSubmatch(exitCodesHelp)
		if row == nil || help == nil {
			t.Fatalf("exit code %s: README row %q, --help line %q", code, row, help)
		}
		// The first words agree: "done", "runtime or configuration
		// failure", "usage".
		first := strings.FieldsFunc(help[1], func(r rune) bool { return r == ';' || r == ':' || r == '(' })[0]
		if !strings.HasPrefix(row[1], strings.TrimSpace(first)) {
			t.Errorf("exit code %s: README says %q, --help %q", code, row[1], help[1])
		}
	}
}

// mdLink matches a Markdown link's target.
var mdLink = regexp.MustCompile(`\]\(([^)#]*)(#[^)]*)?\)`)

// Every link of the README and docs/ is a public URL or a file of the
// repository; nothing names a document outside it.
func TestDocsLinks(t *testing.T) {
	root, _ := filepath.Abs("../..")
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, filepath.Join(root, "README.md"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, bad := range []string{"/work/", "whatsapp-api.md", "../shared"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s names %q, outside the repository", rel, bad)
			}
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if target == "" || strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://") {
				continue
			}
			path := filepath.Join(filepath.Dir(f), target)
			inRepo, _ := filepath.Rel(root, path)
			if strings.HasPrefix(inRepo, "..") {
				t.Errorf("%s links %s, outside the repository", rel, target)
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links %s, which does not exist", rel, target)
			}
		}
	}
}

// The Kafka versions the README names are the ones compose and
// deploy/local-kafka.sh run.
func TestReadmeKafkaVersions(t *testing.T) {
	readme, _ := os.ReadFile("../../README.md")
	compose, _ := os.ReadFile("../../docker-compose.yml")
	pom, _ := os.ReadFile("../../deploy/kafka/pom.xml")
	image := regexp.MustCompile(`image: apache/kafka:(\S+)`).FindSubmatch(compose)
	local := regexp.MustCompile(`<kafka\.version>([^<]+)<`).FindSubmatch(pom)
	if image == nil || local == nil {
		t.Fatal("no Kafka version in docker-compose.yml or deploy/kafka/pom.xml")
	}
	for what, v := range map[string][]byte{"docker compose": image[1], "deploy/local-kafka.sh": local[1]} {
		if !strings.Contains(string(readme), "Apache Kafka "+string(v)+" ") {
			t.Errorf("%s runs Apache Kafka %s; the README does not say so", what, v)
		}
	}
	for _, v := range regexp.MustCompile(`Apache Kafka (\d+\.\d+(\.\d+)?)`).FindAllStringSubmatch(string(readme), -1) {
		if v[1] != string(image[1]) && v[1] != string(local[1]) {
			t.Errorf("the README names Apache Kafka %s, which nothing here runs", v[1])
		}
	}
}
