package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/kafkatest"
)

// Every command follows one table of exit codes (README, "Exit codes";
// --help): 0 done, 1 runtime or configuration failure, 2 usage.
func TestExitCodes(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	b := "--brokers=" + strings.Join(brokers, ",")
	events := kafkatest.Topic(t, "events")
	kafkatest.CreateTopics(t, brokers, 1, events)
	kafkatest.Produce(t, brokers, events, kafka.Message{Key: []byte("15550001111"), Value: []byte(`{"n":1}`)})
	closed := "http://" + freeAddr(t) // nothing listens there
	noRegistry := "--registry-url=" + closed

	dir := t.TempDir()
	templateDef(t, dir)
	good := writeFile(t, dir, "good.csv", "phone,first_name,order_id\n15550001111,Jane,42\n")
	mixed := writeFile(t, dir, "mixed.csv", "phone,first_name,order_id\n15550001111,Jane,42\n12,Bob,43\n")

	tests := []struct {
		name string
		args []string
		code int
	}{
		{"version", []string{"version"}, 0},
		{"unknown command", []string{"sned"}, 2},
		{"unknown flag", []string{"send", "--nope"}, 2},
		{"flag without its value", []string{"tail", events, "--max"}, 2},

		{"send: nothing to send", []string{"send", "--to=15550001111"}, 2},
		{"send: invalid command", []string{"send", "--to=12", "--text=hi", b}, 2},
		{"send: --fields without -o json", []string{"send", "--to=15550001111", "--text=hi", b, "--wait", "--fields=outcome"}, 2},
		{"send: no command topic", []string{"send", "--to=15550001111", "--text=hi", b, "--topic=" + events + ".missing"}, 1},

		{"tail: to the end", []string{"tail", events, b, noRegistry, "-e"}, 0},
		{"tail: negative --max", []string{"tail", events, b, "--max", "-1"}, 2},
		{"tail: bad --offset", []string{"tail", events, b, "--offset", "yesterday"}, 2},
		{"tail: no such topic", []string{"tail", events + ".missing", b, "-e"}, 1},

		{"bulk: dry run, every row valid", bulkArgs(dir, good, "--dry-run"), 0},
		{"bulk: dry run, a row rejected", bulkArgs(dir, mixed, "--dry-run", "--max-rejects", "-1"), 1},
		{"bulk: unknown column", bulkArgs(dir, good, "--dry-run", "--param=body.1=firstname"), 2},
		{"bulk: negative --max-rejects below -1", bulkArgs(dir, good, "--dry-run", "--max-rejects", "-2"), 2},
		{"bulk: too many rejected rows", bulkArgs(dir, mixed, b), 1},
		{"bulk --wait: too many rejected rows", bulkArgs(dir, mixed, b, "--wait"), 1},

		{"templates: no key", []string{"templates", "list", "--api-key="}, 2},
		{"templates: API unreachable", []string{"templates", "list", "--api-key=k", "--api-base-url=" + closed, "--api-timeout=5s"}, 1},
		{"media: API unreachable", []string{"media", "info", "1234", "--api-key=k", "--api-base-url=" + closed, "--api-timeout=5s"}, 1},

		{"optin: user too short", []string{"optin", "add", "--number=1", "12", b}, 2},
		{"optin: no --number", []string{"optin", "add", "15550001111", b}, 2},

		{"schemas list", []string{"schemas", "list"}, 0},
		{"schemas show: unknown kind", []string{"schemas", "show", "bogus"}, 2},
		{"schemas register: registry unreachable", []string{"schemas", "register", noRegistry}, 1},

		{"healthcheck: nothing listening", []string{"healthcheck", "--admin-addr=" + freeAddr(t)}, 1},

		{"topics: unknown output", []string{"topics", b, "-o", "yaml"}, 2},
		{"topics", []string{"topics", b}, 0},
		{"run: bad flag value", []string{"run", "--rate=fast"}, 2},
		{"dev: bad flag value", []string{"dev", "--kafka-port=-"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WABRIDGE_PHONE_NUMBER_ID", "")
			r := runCLI(t, testCtx(t), tt.args...)
			if r.code != tt.code {
				t.Errorf("%q: exit %d, want %d (err %v)", tt.args, r.code, tt.code, r.err)
			}
		})
	}
}

// The binary exits as the table says, with one line on stderr: usage
// errors exit 2, a bad value in the environment is configuration (1).
func TestExitCodesOfTheBinary(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"bad flag value", nil, []string{"tail", "x", "--max=many"}, 2, "--max"},
		{"bad environment value", []string{"WABRIDGE_LOG_LEVEL=loud"}, []string{"version"}, 1, "WABRIDGE_LOG_LEVEL"},
		{"unknown kind", nil, []string{"schemas", "show", "bogus"}, 2, "schemas list"},
		// No client library line before the tool's own error.
		{"kafka unreachable", nil, []string{"tail", "x", "--brokers=" + freeAddr(t), "-e"}, 1, "not reachable"},
		{"kafka setting from the environment", []string{"KAFKA_SASL_MECHANISM=PLAIN"}, []string{"topics"}, 1, "(from the environment: KAFKA_SASL_MECHANISM)"},
		{"kafka setting from the environment, tool with a flag of its own", []string{"KAFKA_SASL_MECHANISM=PLAIN"}, []string{"send", "--to=15550001111", "--text=hi"}, 1, "KAFKA_SASL_MECHANISM"},
		{"kafka flags that do not go together", nil, []string{"topics", "--kafka-sasl-mechanism=PLAIN"}, 2, "needs a username and a password"},
		{"bad --brokers", nil, []string{"tail", "x", "--brokers=:"}, 2, "broker"},
		{"kafka unreachable for send", nil, []string{"send", "--to=15550001111", "--text=hi", "--brokers=" + freeAddr(t)}, 1, "not reachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(binary, tt.args...)
			cmd.Env = append(cleanEnv(), tt.env...)
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if code != tt.code || len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Errorf("%v %q: exit %d, output %q; want %d and one line naming %s", tt.env, tt.args, code, out, tt.code, tt.want)
			}
		})
	}
}
