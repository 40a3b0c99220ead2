package main

import (
	"bytes"
	"testing"
)

// The tools print their output on stdout, where a script reads it
// (id=$(wabridge send ...), wabridge tail | jq): their logs go to stderr.
func TestLogsGoToStdoutOnlyForTheBridge(t *testing.T) {
	tests := []struct {
		command, format string
		wantStdout      bool
	}{
		{"run", "auto", true},
		{"run", "json", true},
		{"run", "text", false},
		{"dev", "auto", false},
		{"dev", "json", true},
		{"send", "auto", false},
		{"tail <topic>", "json", false},
		{"topics", "auto", false},
		{"templates list", "text", false},
	}
	for _, tc := range tests {
		t.Run(tc.command+" "+tc.format, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			newLogger(tc.command, "info", tc.format, &stdout, &stderr).Warn("broker unreachable")
			if got := stdout.Len() > 0; got != tc.wantStdout {
				t.Errorf("logged to stdout: %v, want %v (stdout %q, stderr %q)", got, tc.wantStdout, stdout.String(), stderr.String())
			}
			if stdout.Len()+stderr.Len() == 0 {
				t.Errorf("nothing logged")
			}
		})
	}
}
