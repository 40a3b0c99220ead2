package main

import (
	"context"
	"os"
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

// run listens on every interface by default, dev on 127.0.0.1; an address
// given on the command line is used as given, :8080 included.
func TestListenerDefaults(t *testing.T) {
	for _, env := range []string{"WABRIDGE_HTTP_ADDR", "WABRIDGE_ADMIN_ADDR"} {
		t.Setenv(env, "")
		os.Unsetenv(env)
	}
	for _, tc := range []struct {
		args              []string
		wantHTTP, wantAdm string
	}{
		{[]string{"run"}, ":8080", ":9090"},
		{[]string{"dev"}, "127.0.0.1:8080", "127.0.0.1:9090"},
		{[]string{"dev", "--http-addr", ":8080", "--admin-addr", ":9090"}, ":8080", ":9090"},
		{[]string{"run", "--http-addr", "127.0.0.1:18080"}, "127.0.0.1:18080", ":9090"},
	} {
		var cli CLI
		parser, err := newParser(context.Background(), &cli)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parser.Parse(tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		flags := cli.Run.BridgeFlags
		if tc.args[0] == "dev" {
			flags = cli.Dev.BridgeFlags
		}
		if flags.HTTPAddr != tc.wantHTTP || flags.AdminAddr != tc.wantAdm {
			t.Errorf("%q: http %q admin %q, want %q and %q", tc.args, flags.HTTPAddr, flags.AdminAddr, tc.wantHTTP, tc.wantAdm)
		}
	}
}
