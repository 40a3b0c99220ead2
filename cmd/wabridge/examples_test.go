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
	order := []string{"send", "tail", "media", "optin", "bulk", "templates"}
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
