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

// readmeConfigTable reads the table under the heading "### Configuration"
// (the README's essentials) or "# Configuration" (docs/configuration.md,
// every setting) of path: env var | flag | default | meaning.
func readmeConfigTable(t *testing.T, path string, minRows int) []configRow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []configRow
	in := false
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
			in = line == "### Configuration" || line == "# Configuration"
		case in && strings.HasPrefix(line, "| `"):
			cols := strings.Split(strings.Trim(line, "|"), " | ")
			if len(cols) < 4 {
				t.Fatalf("%s:%d: want 4 columns: %s", path, i+1, line)
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
	if len(rows) < minRows {
		t.Fatalf("%s: found %d rows under its Configuration heading; has the table moved?", path, len(rows))
	}
	return rows
}

// TestReadmeConfigTable checks the configuration tables against `run
// --help` and `dev --help`: every variable the README's or
// docs/configuration.md's table names is one run or dev reads, with the
// binary's default where it states one as a value, and every variable run
// reads is in docs/configuration.md.
func TestReadmeConfigTable(t *testing.T) {
	checkConfigTable(t, readmeConfigTable(t, "../README.md", 10))
	listed := checkConfigTable(t, readmeConfigTable(t, "../docs/configuration.md", 40))
	for name := range commands["run"].env {
		if !listed[name] {
			t.Errorf("`wabridge run` reads %s, which docs/configuration.md does not list", name)
		}
	}
}

// checkConfigTable checks each row's variables and defaults against the
// binary and returns the variables listed.
func checkConfigTable(t *testing.T, rows []configRow) map[string]bool {
	t.Helper()
	run, dev := commands["run"], commands["dev"]
	listed := map[string]bool{}
	for _, r := range rows {
		for i, name := range r.env {
			listed[name] = true
			def, ok := run.env[name]
			if !ok {
				def, ok = dev.env[name]
			}
			if !ok {
				t.Errorf("line %d: %s is read by neither `wabridge run` nor `wabridge dev`", r.line, name)
				continue
			}
			// Defaults are compared where the binary states one (not for
			// booleans, or those run and dev decide at start) and the row
			// gives one value per variable, in order.
			if def == "" || len(r.defaults) < len(r.env) {
				continue
			}
			if r.defaults[i] != def {
				t.Errorf("line %d: default of %s is `%s`; the binary says %q", r.line, name, r.defaults[i], def)
			}
		}
	}
	return listed
}
