package deploy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// configRow is one row of the README's configuration table.
type configRow struct {
	line     int
	env      []string // the environment variables it names
	defaults []string // the backticked values of its default column
}

var backticked = regexp.MustCompile("`([^`]*)`")

// readmeConfigTable reads the table under "### Configuration" in the
// README: env var | flag | default | meaning.
func readmeConfigTable(t *testing.T) []configRow {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []configRow
	in := false
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
			in = line == "### Configuration"
		case in && strings.HasPrefix(line, "| `"):
			cols := strings.Split(strings.Trim(line, "|"), " | ")
			if len(cols) < 4 {
				t.Fatalf("README.md:%d: want 4 columns: %s", i+1, line)
			}
			r := configRow{line: i + 1}
			for _, m := range backticked.FindAllStringSubmatch(cols[0], -1) {
				r.env = append(r.env, m[1])
			}
			for _, m := range backticked.FindAllStringSubmatch(cols[2], -1) {
				r.defaults = append(r.defaults, m[1])
			}
			rows = append(rows, r)
		}
	}
	if len(rows) < 10 {
		t.Fatalf("README.md: found %d rows under ### Configuration; has the table moved?", len(rows))
	}
	return rows
}

// TestReadmeConfigTable checks the README's configuration table against
// `run --help` and `dev --help`: every variable it names is one run or dev
// reads, every variable run reads is in it, and a default it states as a
// value is the binary's.
func TestReadmeConfigTable(t *testing.T) {
	run, dev := commands["run"], commands["dev"]
	listed := map[string]bool{}
	for _, r := range readmeConfigTable(t) {
		for i, name := range r.env {
			listed[name] = true
			def, ok := run.env[name]
			if !ok {
				def, ok = dev.env[name]
			}
			if !ok {
				t.Errorf("README.md:%d: %s is read by neither `wabridge run` nor `wabridge dev`", r.line, name)
				continue
			}
			// Defaults are compared where the binary states one (not for
			// booleans, or those run and dev decide at start) and the row
			// gives one value per variable, in order.
			if def == "" || len(r.defaults) < len(r.env) {
				continue
			}
			if r.defaults[i] != def {
				t.Errorf("README.md:%d: default of %s is `%s`; the binary says %q", r.line, name, r.defaults[i], def)
			}
		}
	}
	for name := range run.env {
		if !listed[name] {
			t.Errorf("`wabridge run` reads %s, which the README's configuration table does not list", name)
		}
	}
}
