package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The tools print their output on stdout, where a script reads it
// (id=$(wabridge send ...), wabridge tail | jq): their logs go to stderr.
func TestLogsGoToStderr(t *testing.T) {
	tests := []struct {
		command, format, want string
	}{
		{"run", "auto", `"level":"WARN"`},
		{"run", "text", "level=WARN"},
		{"dev", "auto", "level=WARN"},
		{"dev", "json", `"level":"WARN"`},
		{"send", "auto", `"level":"WARN"`},
		{"tail <topic>", "json", `"level":"WARN"`},
		{"templates list", "text", "level=WARN"},
	}
	for _, tc := range tests {
		t.Run(tc.command+" "+tc.format, func(t *testing.T) {
			var stderr bytes.Buffer
			newLogger(tc.command, "info", tc.format, &stderr).Warn("broker unreachable", "waited", 1500*time.Millisecond)
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.want)
			}
			if !strings.Contains(stderr.String(), "1.5s") {
				t.Errorf("the duration is not logged as 1.5s: %q", stderr.String())
			}
		})
	}
}
