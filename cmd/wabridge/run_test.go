package main

import (
	"strings"
	"testing"
)

// run --help warns where the admin listener serves and what unauthenticated
// webhooks allow.
func TestRunHelpWarns(t *testing.T) {
	r := runCLI(t, testCtx(t), "run", "--help")
	help := strings.Join(strings.Fields(r.stdout), " ")
	for _, want := range []string{"listens on all interfaces", "--webhook-insecure", "anyone who reaches the listener"} {
		if !strings.Contains(help, want) {
			t.Errorf("run --help does not say %q:\n%s", want, r.stdout)
		}
	}
}
