package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/render"
	"github.com/wabridge/wabridge/outbound"
	"github.com/wabridge/wabridge/window"
)

// OptinCmd reads and writes the opt-in registry (package window).
type OptinCmd struct {
	Add    OptinAddCmd    `cmd:"" help:"Record that users opted in, to everything or to one template category."`
	Remove OptinRemoveCmd `cmd:"" help:"Record that users opted out, of everything or of one template category."`
	List   OptinListCmd   `cmd:"" help:"Print the registry: the current consent of each user, as JSON lines."`
}

// Help is shown by --help.
func (OptinCmd) Help() string {
	return `The registry is a compacted topic keyed by "<phone_number_id>|<user>": consent is per business number. Every wabridge instance follows it; with --optin-mode enforce, templates to users without an opt-in are rejected (no_opt_in), and marketing templates to users who opted out are rejected in every mode (opted_out).

Examples:

    wabridge optin add --number 100000000000001 15550001111 15550002222 --source web-form
    wabridge optin remove --number 100000000000001 15550001111 --category marketing
    wabridge optin list --number 100000000000001`
}

// OptinTarget is where the registry lives.
type OptinTarget struct {
	KafkaFlags `embed:""`
	Topic      string `env:"WABRIDGE_TOPIC_OPTIN" default:"wabridge.optin" help:"Opt-in topic."`
}

// optinChange is what add and remove share.
type optinChange struct {
	OptinTarget `embed:""`
	Number      string   `required:"" env:"WABRIDGE_PHONE_NUMBER_ID" placeholder:"PHONE_NUMBER_ID" help:"Business number (its phone_number_id) the consent is given to."`
	Users       []string `arg:"" name:"user" help:"Users: phone numbers (their wa_id, e.g. 15550001111) or business-scoped user ids."`
	Category    string   `placeholder:"CATEGORY" help:"Only this template category (marketing, utility, authentication); the rest of the user's consent stays. Default: everything."`
	Source      string   `default:"cli" help:"Where the decision came from; stored with it."`
	At          string   `placeholder:"TIME" help:"When the user decided, RFC 3339 (default: now)."`
}

// OptinAddCmd records opt-ins.
type OptinAddCmd struct{ optinChange }

// OptinRemoveCmd records opt-outs.
type OptinRemoveCmd struct{ optinChange }

// Run writes the opt-ins and prints the new state of each user.
func (c *OptinAddCmd) Run(ctx context.Context, g *Globals) error {
	return c.run(ctx, g, window.OptInAll, window.ResumeCategory)
}

// Run writes the opt-outs and prints the new state of each user.
func (c *OptinRemoveCmd) Run(ctx context.Context, g *Globals) error {
	return c.run(ctx, g, window.OptOutAll, window.StopCategory)
}

func (c *optinChange) run(ctx context.Context, g *Globals, all, one window.Action) error {
	conn, err := c.conn(g)
	if err != nil {
		return err
	}
	if strings.Contains(c.Number, "|") || strings.TrimSpace(c.Number) == "" {
		return usageError("--number %q: want the business number's phone_number_id", c.Number)
	}
	ch := window.Change{Action: all, Source: c.Source}
	if c.Category != "" {
		ch.Action, ch.Category = one, window.Family(c.Category)
		// Family passes an unknown category through: a typo would record
		// consent for a category no template has.
		if !slices.Contains([]string{"marketing", "utility", "authentication"}, ch.Category) {
			return usageError("--category %q: want marketing, utility or authentication", c.Category)
		}
	}
	if c.At != "" {
		if ch.At, err = time.Parse(time.RFC3339, c.At); err != nil {
			return usageError("--at %q: want RFC 3339, e.g. 2026-03-01T09:00:00Z", c.At)
		}
	} else {
		ch.At = time.Now().UTC().Truncate(time.Millisecond)
	}
	keys := map[string]bool{}
	for _, u := range c.Users {
		if err := checkUser(u); err != nil {
			return usageError("%v", err)
		}
		keys[window.Key(c.Number, strings.TrimSpace(u))] = true
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// A category change keeps the rest of each user's consent: read it.
	current := map[string]window.Consent{}
	if c.Category != "" {
		if err := readRegistry(ctx, conn, c.Topic, func(key string, cons window.Consent) {
			if keys[key] {
				current[key] = cons
			}
		}, io.Discard); err != nil {
			return err
		}
	}
	cl, err := conn.NewClient(
		kgo.DefaultProduceTopic(c.Topic),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // murmur2, as wabridge and Java producers
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	var recs []*kgo.Record
	var lines []optinLine
	for _, key := range sortedKeys(keys) {
		next := current[key].Apply(ch)
		recs = append(recs, &kgo.Record{Key: []byte(key), Value: next.Value().Encode()})
		lines = append(lines, newOptinLine(key, next))
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("writing to %s at %v: %w", c.Topic, conn.Brokers, err)
	}
	for _, l := range lines {
		if err := l.print(g.Stdout); err != nil {
			return err
		}
	}
	return nil
}

// OptinListCmd prints the registry.
type OptinListCmd struct {
	OptinTarget `embed:""`
	Number      string `env:"WABRIDGE_PHONE_NUMBER_ID" placeholder:"PHONE_NUMBER_ID" help:"Only this business number."`
	User        string `placeholder:"USER" help:"Only this user (phone number or business-scoped user id)."`
}

// Run reads the topic to its end and prints the newest state of each key,
// sorted by key.
func (c *OptinListCmd) Run(ctx context.Context, g *Globals) error {
	conn, err := c.conn(g)
	if err != nil {
		return err
	}
	user := ""
	if c.User != "" {
		user = window.NormalizeUser(c.User)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	state := map[string]window.Consent{}
	err = readRegistry(ctx, conn, c.Topic, func(key string, cons window.Consent) {
		n, u, _ := window.SplitKey([]byte(key))
		if (c.Number == "" || n == c.Number) && (user == "" || u == user) {
			state[key] = cons
		}
	}, g.Stderr)
	if err != nil {
		return err
	}
	for _, key := range sortedKeys(state) {
		if err := newOptinLine(key, state[key]).print(g.Stdout); err != nil {
			return err
		}
	}
	return nil
}

// readRegistry calls fn with the newest consent of every key of topic
// (tombstoned keys are left out); invalid records are reported to warn.
func readRegistry(ctx context.Context, conn kafkaio.Conn, topic string, fn func(key string, c window.Consent), warn io.Writer) error {
	newest := map[string]*kgo.Record{}
	err := conn.ReadTopic(ctx, topic, func(r *kgo.Record) error {
		newest[string(r.Key)] = r
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the opt-in registry %s at %v: %w", topic, conn.Brokers, err)
	}
	for key, r := range newest {
		if r.Value == nil {
			continue
		}
		if _, _, ok := window.SplitKey(r.Key); !ok {
			fmt.Fprintf(warn, "skipping %s/%d@%d: key %q is not <phone_number_id>|<user>\n", r.Topic, r.Partition, r.Offset, r.Key)
			continue
		}
		v, err := window.DecodeConsent(r.Value)
		if err != nil {
			fmt.Fprintf(warn, "skipping %s/%d@%d: %v\n", r.Topic, r.Partition, r.Offset, err)
			continue
		}
		fn(key, v.Consent(r.Timestamp))
	}
	return nil
}

// optinLine is one line of list (and of add and remove).
type optinLine struct {
	Number     string          `json:"number"`
	User       string          `json:"user"`
	OptedIn    *bool           `json:"opted_in"`
	Categories map[string]bool `json:"categories,omitempty"`
	Source     string          `json:"source,omitempty"`
	At         string          `json:"at,omitempty"`
}

func newOptinLine(key string, c window.Consent) optinLine {
	n, u, _ := window.SplitKey([]byte(key))
	v := c.Value()
	l := optinLine{Number: n, User: u, OptedIn: v.OptedIn, Categories: v.Categories, Source: c.Source}
	if !c.At.IsZero() {
		l.At = render.Time(c.At)
	}
	return l
}

func (l optinLine) print(w io.Writer) error {
	if err := render.NewPrinter(w, render.Options{}).Print(l); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkUser checks a user as the bridge checks a send command's recipient
// (outbound.Validate): a phone number of 8 to 15 digits with country code,
// or a business-scoped user id.
func checkUser(u string) error {
	u = strings.TrimSpace(u)
	if u == "" || strings.Contains(u, "|") {
		return fmt.Errorf("user %q: want a phone number or a business-scoped user id", u)
	}
	field := "to"
	if d360.IsBSUID(u) {
		field = "recipient"
	}
	to, _ := json.Marshal(u)
	cmd := map[string]json.RawMessage{field: to, "type": json.RawMessage(`"text"`), "text": json.RawMessage(`{"body":"-"}`)}
	if err := outbound.Validate(cmd); err != nil {
		var ie *outbound.InvalidError
		if errors.As(err, &ie) {
			return fmt.Errorf("user %q: %s", u, ie.Rule)
		}
		return fmt.Errorf("user %q: %w", u, err)
	}
	return nil
}
