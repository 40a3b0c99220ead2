package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

func TestSchemasCommands(t *testing.T) {
	reg := srfake.New()
	t.Cleanup(reg.Close)
	var out bytes.Buffer
	g := &Globals{Logger: slog.New(slog.DiscardHandler), Stdout: &out, Stderr: &out}
	topics := schemaTopics{TopicCommands: "c", TopicResults: "r", TopicMessages: "m", TopicStatuses: "s", TopicWebhookEvents: "e", TopicDeadLetter: "d"}
	flags := registryFlags{RegistryURL: reg.URL()}
	ctx := context.Background()

	if err := (&SchemasListCmd{schemaTopics: topics}).Run(g); err != nil || !hasRow(out.String(), "send_result r r-value") || !hasRow(out.String(), "message_status s s-value") {
		t.Fatalf("list: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := (&SchemasShowCmd{Kind: "message_status"}).Run(g); err != nil || !strings.Contains(out.String(), `"name": "MessageStatus"`) {
		t.Fatalf("show: %v\n%s", err, out.String())
	}
	// An unknown kind is a usage error.
	if r := runCLI(t, ctx, "schemas", "show", "nope"); r.code != 2 || !strings.Contains(r.err.Error(), "schemas list") {
		t.Errorf("show of an unknown kind: exit %d %v", r.code, r.err)
	}
	out.Reset()
	if err := (&SchemasRegisterCmd{schemaSubjects{schemaTopics: topics, registryFlags: flags}}).Run(ctx, g); err != nil || !hasRow(out.String(), "KIND SUBJECT ID") || !hasRow(out.String(), "send_result r-value 5") {
		t.Fatalf("register: %v\n%s", err, out.String())
	}
	for _, subject := range []string{"c-value", "r-value", "m-value", "s-value", "e-value", "d-value"} {
		if !reg.SubjectExists(subject) {
			t.Errorf("subject %s not registered", subject)
		}
	}
	out.Reset()
	if err := (&SchemasCheckCmd{schemaSubjects{schemaTopics: topics, registryFlags: flags}}).Run(ctx, g); err != nil || strings.Count(out.String(), "compatible") != 6 || !hasRow(out.String(), "KIND SUBJECT STATUS") || !hasRow(out.String(), "send_result r-value compatible") {
		t.Fatalf("check after register: %v\n%s", err, out.String())
	}
	if err := (&SchemasRegisterCmd{schemaSubjects{schemaTopics: topics, registryFlags: registryFlags{RegistryURL: "registry:8081"}}}).Run(ctx, g); err == nil {
		t.Error("register with a malformed URL succeeded")
	}
}

// hasRow reports whether a line of out has exactly the fields of row.
func hasRow(out, row string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(line), " ") == row {
			return true
		}
	}
	return false
}
