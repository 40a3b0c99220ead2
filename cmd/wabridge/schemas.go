package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/wabridge/wabridge/schemas"
)

// SchemasCmd inspects and registers the event schemas.
type SchemasCmd struct {
	List     SchemasListCmd     `cmd:"" help:"List the event kinds, their topics and registry subjects."`
	Show     SchemasShowCmd     `cmd:"" help:"Print one kind's Avro schema."`
	Register SchemasRegisterCmd `cmd:"" help:"Register every schema under its topic's subject (for platform teams that run with --no-auto-register)."`
	Check    SchemasCheckCmd    `cmd:"" help:"Ask the registry whether the current schemas are compatible with what each subject holds; exit 1 if one is not."`
}

// schemaTopics names the topic of each kind from the same variables as run.
type schemaTopics struct {
	TopicCommands      string `env:"WABRIDGE_TOPIC_COMMANDS" default:"wabridge.commands" help:"Topic of send commands (typed commands use the SendCommand schema)."`
	TopicResults       string `env:"WABRIDGE_TOPIC_RESULTS" default:"wabridge.results" help:"Topic of send results."`
	TopicMessages      string `env:"WABRIDGE_TOPIC_MESSAGES" default:"wabridge.messages" help:"Topic of inbound messages."`
	TopicStatuses      string `env:"WABRIDGE_TOPIC_STATUSES" default:"wabridge.statuses" help:"Topic of message statuses."`
	TopicWebhookEvents string `env:"WABRIDGE_TOPIC_WEBHOOK_EVENTS" default:"wabridge.webhook-events" help:"Topic of webhook events."`
	TopicDeadLetter    string `env:"WABRIDGE_TOPIC_DLQ" default:"wabridge.dlq" help:"Dead-letter topic."`
}

func (t schemaTopics) topic(kind schemas.Kind) string {
	switch kind {
	case schemas.SendResult:
		return t.TopicResults
	case schemas.InboundMessage:
		return t.TopicMessages
	case schemas.MessageStatus:
		return t.TopicStatuses
	case schemas.WebhookEvent:
		return t.TopicWebhookEvents
	case schemas.DeadLetter:
		return t.TopicDeadLetter
	case schemas.SendCommand:
		return t.TopicCommands
	}
	return ""
}

// registryFlags reach the schema registry, for every tool that reads or
// writes Avro (tail, send --wait, bulk --wait, schemas).
type registryFlags struct {
	RegistryURL      string `env:"SCHEMA_REGISTRY_URL" default:"http://127.0.0.1:8081" help:"Schema registry (to decode Avro values, or register schemas)."`
	RegistryUser     string `env:"SCHEMA_REGISTRY_USER" help:"Schema registry basic-auth user."`
	RegistryPassword string `env:"SCHEMA_REGISTRY_PASSWORD" help:"Schema registry basic-auth password."`
	RegistryCAFile   string `env:"SCHEMA_REGISTRY_CA_FILE" placeholder:"FILE" help:"PEM bundle to trust for an https registry."`
}

func (r registryFlags) client() (*sr.Client, error) {
	return schemas.NewRegistryClient(schemas.RegistryConfig{URL: r.RegistryURL, User: r.RegistryUser, Password: r.RegistryPassword, CAFile: r.RegistryCAFile})
}

// SchemasListCmd lists kinds.
type SchemasListCmd struct {
	schemaTopics `embed:""`
}

// Run prints one line per kind.
func (c *SchemasListCmd) Run(g *Globals) error {
	all, err := schemas.All()
	if err != nil {
		return err
	}
	w := newTable(g.Stdout, "KIND", "TOPIC", "SUBJECT")
	for _, s := range all {
		topic := c.topic(s.Kind)
		subject := "-"
		if topic != "" {
			subject = schemas.Subject(topic)
		} else {
			topic = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", s.Kind, topic, subject)
	}
	return w.Flush()
}

// SchemasShowCmd prints a schema.
type SchemasShowCmd struct {
	Kind string `arg:"" help:"Event kind (see schemas list)."`
}

// Run prints the schema text.
func (c *SchemasShowCmd) Run(g *Globals) error {
	s, err := schemas.Lookup(schemas.Kind(c.Kind))
	if err != nil {
		return usageError("%v; see wabridge schemas list", err)
	}
	fmt.Fprintln(g.Stdout, strings.TrimSpace(s.Text))
	return nil
}

// schemaSubjects is what register and check share: the topics of the
// kinds and the registry.
type schemaSubjects struct {
	schemaTopics  `embed:""`
	registryFlags `embed:""`
}

// each calls fn with the registry client, every schema and its topic.
func (c *schemaSubjects) each(fn func(cl *sr.Client, s schemas.Schema, topic string) error) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	all, err := schemas.All()
	if err != nil {
		return err
	}
	for _, s := range all {
		if topic := c.topic(s.Kind); topic != "" {
			if err := fn(cl, s, topic); err != nil {
				return err
			}
		}
	}
	return nil
}

// SchemasRegisterCmd registers every schema.
type SchemasRegisterCmd struct {
	schemaSubjects `embed:""`
}

// Run registers and prints the ids.
func (c *SchemasRegisterCmd) Run(ctx context.Context, g *Globals) error {
	w := newTable(g.Stdout, "KIND", "SUBJECT", "ID")
	err := c.each(func(cl *sr.Client, s schemas.Schema, topic string) error {
		enc, err := schemas.Resolve(ctx, cl, topic, s.Kind, true)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\t%s\t%d\n", s.Kind, schemas.Subject(topic), enc.ID)
		return nil
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// newTable starts an aligned table with a header row: list, register and
// check print the same way.
func newTable(out io.Writer, columns ...string) *tabwriter.Writer {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(columns, "\t"))
	return w
}

// SchemasCheckCmd checks compatibility with the registry.
type SchemasCheckCmd struct {
	schemaSubjects `embed:""`
}

// Run checks each subject against its latest version.
func (c *SchemasCheckCmd) Run(ctx context.Context, g *Globals) error {
	bad := 0
	w := newTable(g.Stdout, "KIND", "SUBJECT", "STATUS")
	err := c.each(func(cl *sr.Client, s schemas.Schema, topic string) error {
		subject := schemas.Subject(topic)
		res, err := cl.CheckCompatibility(ctx, subject, -1, sr.Schema{Schema: s.Text, Type: sr.TypeAvro})
		var re *sr.ResponseError
		switch {
		case errors.As(err, &re) && re.StatusCode == 404:
			fmt.Fprintf(w, "%s\t%s\tnot registered yet (nothing to be compatible with)\n", s.Kind, subject)
		case err != nil:
			return fmt.Errorf("checking %s: %w", subject, err)
		case res.Is:
			fmt.Fprintf(w, "%s\t%s\tcompatible\n", s.Kind, subject)
		default:
			bad++
			fmt.Fprintf(w, "%s\t%s\tINCOMPATIBLE: %s\n", s.Kind, subject, strings.Join(res.Messages, "; "))
		}
		return nil
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("%d schema(s) incompatible with the registry", bad)
	}
	return nil
}
