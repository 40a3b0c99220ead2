package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/term"

	"github.com/wabridge/wabridge/inbound"
	"github.com/wabridge/wabridge/internal/campaign"
	"github.com/wabridge/wabridge/internal/follow"
	"github.com/wabridge/wabridge/internal/render"
	"github.com/wabridge/wabridge/outbound"
	"github.com/wabridge/wabridge/schemas"
)

// DlqCmd inspects and replays dead letters.
type DlqCmd struct {
	List   DlqListCmd   `cmd:"" help:"List dead letters (filter by source, reason, time) with counts by reason."`
	Show   DlqShowCmd   `cmd:"" help:"Print dead letters decoded, the original pretty-printed."`
	Replay DlqReplayCmd `cmd:"" help:"Replay dead letters: webhooks are POSTed again to the listener, commands produced again to the command topic with their headers."`
}

// Help is shown by --help.
func (DlqCmd) Help() string {
	return `A webhook dead letter holds the whole request body as received (byte for byte, chunked when large), the path and reason of every part that could not be published, and the request headers without secrets; replaying it POSTs the body again, and the parts published the first time come out with the same event ids. A command dead letter holds the command's bytes and headers; replaying it produces them again with the same key, so the command keeps its id. See docs/dead-letters.md.

Examples:

    wabridge dlq list --since 24h
    wabridge dlq list --source webhook --reason "no id" -o json
    wabridge dlq list --counts -o json
    wabridge dlq show --source webhook --since 1h
    wabridge dlq replay --source webhook --since 2h --dry-run
    wabridge dlq replay --source command --reason window --dry-run

A dead letter is named by its event id or by PARTITION:OFFSET of its record (dlq list prints both):

    wabridge dlq show 0:1523 --original > body.json     # edit body.json, then
    wabridge dlq replay 0:1523 --body body.json --url http://127.0.0.1:8080/webhook
    wabridge dlq replay dlq:command:wabridge.commands/2/4711`
}

// dlqSelect reads the dead-letter topic and chooses dead letters.
type dlqSelect struct {
	KafkaFlags    `embed:""`
	Topic         string `env:"WABRIDGE_TOPIC_DLQ" default:"wabridge.dlq" help:"Dead-letter topic."`
	registryFlags `embed:""`
	Source        string   `enum:",command,webhook" default:"" help:"Only dead letters of this source: command or webhook."`
	Reason        string   `placeholder:"TEXT" help:"Only dead letters whose reason (or a failed part's reason) contains TEXT (case-insensitive)."`
	Since         string   `placeholder:"TIME" help:"Only dead letters written at or after TIME: RFC 3339, Unix milliseconds or a duration back from now (24h)."`
	Until         string   `placeholder:"TIME" help:"Only dead letters written before TIME (same forms as --since)."`
	IDs           []string `arg:"" optional:"" name:"id" help:"Only these dead letters: event ids (dlq:webhook:..., dlq:command:...) or PARTITION:OFFSET of their record."`
}

// deadLetter is one dead letter read back: a record, or the chunks of a
// large webhook body put together.
type deadLetter struct {
	Partition int32
	Offset    int64 // of its (first) record
	Key       []byte
	Time      time.Time
	// Times counts the records of this event id (a webhook retried, or a
	// replay that failed again, gives the same id).
	Times int

	EventID, Source, Reason string
	DeadAt                  time.Time
	CommandID               string
	SourceTopic             string
	SourcePartition         int32
	SourceOffset            int64
	Headers                 [][2][]byte
	ContentType             string
	OriginalKind            string
	Failures                []schemas.Failure
	Original                []byte
	Chunks, ChunksHave      int
	SHA256                  string
	// Problem says why the dead letter cannot be read whole (missing
	// chunks, a hash mismatch, an undecodable value).
	Problem string
}

// replayable says whether (and why not) the dead letter can be replayed.
func (d *deadLetter) replayable() (bool, string) {
	switch {
	case d.Problem != "":
		return false, d.Problem
	case d.Source == "command":
		return true, ""
	case d.Source != "webhook":
		return false, "unknown source " + strconv.Quote(d.Source)
	case d.OriginalKind == schemas.OriginalRequestSummary:
		return false, "the body was refused as too large and not kept"
	case d.OriginalKind == "":
		return false, "written by an older wabridge: the original is one item, not the request body"
	}
	return true, ""
}

// position is how the dead letter is named on the command line.
func (d *deadLetter) position() string { return fmt.Sprintf("%d:%d", d.Partition, d.Offset) }

// found fails when dead letters were named and none of them is in the
// topic: a typo is an error (exit 1), not an empty success.
func (c *dlqSelect) found(dls []*deadLetter) error {
	if len(dls) == 0 && len(c.IDs) > 0 {
		return fmt.Errorf("no dead letter %s in %s", strings.Join(c.IDs, ", "), c.Topic)
	}
	return nil
}

// read returns the dead letters chosen, in the order of their records.
func (c *dlqSelect) read(ctx context.Context, g *Globals) ([]*deadLetter, error) {
	conn, err := c.conn(g)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var since, until time.Time
	if c.Since != "" {
		if since, err = follow.ParseTime(c.Since, now); err != nil {
			return nil, usageError("--since: %v", err)
		}
	}
	if c.Until != "" {
		if until, err = follow.ParseTime(c.Until, now); err != nil {
			return nil, usageError("--until: %v", err)
		}
	}
	start := follow.Beginning()
	if !since.IsZero() {
		start = follow.At(since)
	}
	reg, err := c.client()
	if err != nil {
		return nil, err
	}
	dec := schemas.NewDecoder(reg)
	f, err := follow.Open(ctx, follow.Config{Conn: conn, Topics: []string{c.Topic}, Start: start, StopAtEnd: true})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*deadLetter
	byID := map[string]*deadLetter{}
	// open holds webhook bodies whose chunks are still coming, by
	// partition and key.
	open := map[string]*deadLetter{}
	for {
		r, err := f.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", c.Topic, err)
		}
		if !until.IsZero() && !r.Timestamp.Before(until) {
			continue
		}
		d, number := decodeDeadLetter(ctx, dec, r)
		if number > 0 {
			k := fmt.Sprintf("%d/%s", r.Partition, r.Key)
			if number == 1 || open[k] == nil || open[k].SHA256 != d.SHA256 {
				open[k] = d
			} else {
				o := open[k]
				o.Original = append(o.Original, d.Original...)
				o.ChunksHave++
				d = o
			}
			if d.ChunksHave < d.Chunks {
				continue
			}
			delete(open, k)
			if sum := sha256.Sum256(d.Original); hex.EncodeToString(sum[:]) != d.SHA256 {
				d.Problem = "its chunks do not put together to the body (SHA-256 differs)"
			}
		}
		if prev := byID[d.EventID]; prev != nil && d.EventID != "" {
			prev.Times++
			continue
		}
		byID[d.EventID] = d
		out = append(out, d)
	}
	for _, d := range open {
		d.Problem = fmt.Sprintf("only %d of its %d chunks are in the topic", d.ChunksHave, d.Chunks)
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return slices.DeleteFunc(out, func(d *deadLetter) bool { return !c.keep(d) }), nil
}

// keep applies the filters.
func (c *dlqSelect) keep(d *deadLetter) bool {
	if c.Source != "" && d.Source != c.Source {
		return false
	}
	if c.Reason != "" {
		want := strings.ToLower(c.Reason)
		found := strings.Contains(strings.ToLower(d.Reason), want)
		for _, f := range d.Failures {
			found = found || strings.Contains(strings.ToLower(f.Reason), want)
		}
		if !found {
			return false
		}
	}
	if len(c.IDs) > 0 && !slices.Contains(c.IDs, d.EventID) && !slices.Contains(c.IDs, d.position()) {
		return false
	}
	return true
}

// decodeDeadLetter reads a dead-letter record: a DeadLetter Avro record,
// or (bridges without the registry encoder) the original bytes with dlq-*
// headers. It returns the chunk number, 0 for an unsplit record.
func decodeDeadLetter(ctx context.Context, dec *schemas.Decoder, r *kgo.Record) (*deadLetter, int) {
	d := &deadLetter{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Time: r.Timestamp, Times: 1, DeadAt: r.Timestamp, ChunksHave: 1}
	number := 0
	native, _, err := dec.Decode(ctx, r.Value)
	switch {
	case err == nil:
		d.EventID, _ = native["event_id"].(string)
		d.Source, _ = native["source"].(string)
		d.Reason, _ = native["reason"].(string)
		if t, ok := native["dead_at"].(time.Time); ok {
			d.DeadAt = t
		}
		d.CommandID = unionOf[string](native["command_id"])
		d.SourceTopic = unionOf[string](native["source_topic"])
		d.SourcePartition = unionOf[int32](native["source_partition"])
		d.SourceOffset = unionOf[int64](native["source_offset"])
		d.ContentType = unionOf[string](native["content_type"])
		d.OriginalKind = unionOf[string](native["original_kind"])
		d.Original, _ = native["original"].([]byte)
		hs, _ := native["headers"].([]any)
		for _, h := range hs {
			m, _ := h.(map[string]any)
			k, _ := m["key"].(string)
			v, _ := m["value"].([]byte)
			d.Headers = append(d.Headers, [2][]byte{[]byte(k), v})
		}
		fs, _ := native["failures"].([]any)
		for _, f := range fs {
			m, _ := f.(map[string]any)
			p, _ := m["path"].(string)
			why, _ := m["reason"].(string)
			d.Failures = append(d.Failures, schemas.Failure{Path: p, Reason: why})
		}
		if ch := unionOf[map[string]any](native["chunk"]); ch != nil {
			n, _ := ch["number"].(int32)
			count, _ := ch["count"].(int32)
			d.SHA256, _ = ch["sha256"].(string)
			number, d.Chunks = int(n), int(count)
		}
	case errors.Is(err, schemas.ErrNotConfluent):
		d.Original = r.Value
		d.EventID = follow.Header(r, inbound.HeaderEventID)
		d.Source = follow.Header(r, inbound.HeaderDLQSource)
		d.Reason = follow.Header(r, inbound.HeaderDLQReason)
		d.ContentType = follow.Header(r, inbound.HeaderContentType)
		d.CommandID = follow.Header(r, outbound.HeaderCommandID)
		d.SourceTopic = follow.Header(r, "dlq-source-topic")
		if p, err := strconv.ParseInt(follow.Header(r, "dlq-source-partition"), 10, 32); err == nil {
			d.SourcePartition = int32(p)
		}
		d.SourceOffset, _ = strconv.ParseInt(follow.Header(r, "dlq-source-offset"), 10, 64)
		for _, h := range r.Headers {
			if !strings.HasPrefix(h.Key, "dlq-") && h.Key != inbound.HeaderEventID && d.Source == "command" {
				d.Headers = append(d.Headers, [2][]byte{[]byte(h.Key), h.Value})
			}
		}
		if d.Source == "command" && d.SourceTopic != "" {
			d.EventID = fmt.Sprintf("dlq:command:%s/%d/%d", d.SourceTopic, d.SourcePartition, d.SourceOffset)
		}
		if ch := follow.Header(r, inbound.HeaderDLQChunk); ch != "" {
			a, b, _ := strings.Cut(ch, "/")
			number, _ = strconv.Atoi(a)
			d.Chunks, _ = strconv.Atoi(b)
			d.SHA256 = follow.Header(r, inbound.HeaderDLQSHA256)
		}
	default:
		d.Problem = "value not decoded: " + err.Error()
		d.EventID = fmt.Sprintf("record:%d:%d", r.Partition, r.Offset)
	}
	return d, number
}

// unionOf returns the value of an Avro union as goavro decodes it (a map
// of one branch), or of a plain value.
func unionOf[T any](v any) T {
	var zero T
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for _, x := range m {
			t, _ := x.(T)
			return t
		}
	}
	t, ok := v.(T)
	if !ok {
		return zero
	}
	return t
}

// indexes are the array indexes of a path or reason, so that reasons of
// different parts count together.
var indexes = regexp.MustCompile(`\[\d+\]`)

// reasonKeys are the reasons a dead letter counts under: for commands the
// outcome's reason code (before ": "), for webhooks each failed part's
// reason without its path's indexes.
func (d *deadLetter) reasonKeys() []string {
	if d.Source == "command" {
		code, _, _ := strings.Cut(d.Reason, ": ")
		return []string{code}
	}
	if len(d.Failures) == 0 {
		return []string{indexes.ReplaceAllString(d.Reason, "[]")}
	}
	var keys []string
	for _, f := range d.Failures {
		if f.Path == "" && strings.HasSuffix(f.Reason, "more parts not published") {
			continue
		}
		k := indexes.ReplaceAllString(f.String(), "[]")
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// object is the rendered form of a dead letter; with full, every field and
// the original (pretty-printed JSON, else text, else base64).
func (d *deadLetter) object(full bool) render.Object {
	o := render.Object{
		{Key: "event_id", Value: d.EventID}, {Key: "partition", Value: d.Partition}, {Key: "offset", Value: d.Offset},
		{Key: "dead_at", Value: render.Time(d.DeadAt)}, {Key: "source", Value: d.Source}, {Key: "reason", Value: d.Reason},
	}
	if d.Times > 1 {
		o = append(o, render.Field{Key: "times", Value: d.Times})
	}
	if d.CommandID != "" {
		o = append(o, render.Field{Key: "command_id", Value: d.CommandID})
	}
	if d.SourceTopic != "" {
		o = append(o, render.Field{Key: "source_topic", Value: d.SourceTopic}, render.Field{Key: "source_partition", Value: d.SourcePartition},
			render.Field{Key: "source_offset", Value: d.SourceOffset})
	}
	if len(d.Failures) > 0 {
		fs := make([]any, 0, len(d.Failures))
		for _, f := range d.Failures {
			fs = append(fs, render.Object{{Key: "path", Value: f.Path}, {Key: "reason", Value: f.Reason}})
		}
		o = append(o, render.Field{Key: "failures", Value: fs})
	}
	ok, why := d.replayable()
	o = append(o, render.Field{Key: "replayable", Value: ok})
	if !ok {
		o = append(o, render.Field{Key: "not_replayable", Value: why})
	}
	if !full {
		return o
	}
	if len(d.Headers) > 0 {
		hs := make(render.Object, 0, len(d.Headers))
		for _, h := range d.Headers {
			hs = append(hs, render.Field{Key: string(h[0]), Value: string(h[1])})
		}
		o = append(o, render.Field{Key: "headers", Value: hs})
	}
	if d.OriginalKind != "" {
		o = append(o, render.Field{Key: "original_kind", Value: d.OriginalKind})
	}
	if d.Chunks > 0 {
		o = append(o, render.Field{Key: "chunks", Value: d.Chunks}, render.Field{Key: "sha256", Value: d.SHA256})
	}
	o = append(o, render.Field{Key: "content_type", Value: d.ContentType}, render.Field{Key: "size", Value: len(d.Original)})
	if v, err := render.JSON(d.Original); err == nil {
		o = append(o, render.Field{Key: "original", Value: v})
	} else if utf8.Valid(d.Original) {
		o = append(o, render.Field{Key: "original_text", Value: string(d.Original)})
	} else {
		o = append(o, render.Field{Key: "original_base64", Value: base64.StdEncoding.EncodeToString(d.Original)})
	}
	return o
}

// DlqListCmd lists dead letters.
type DlqListCmd struct {
	dlqSelect `embed:""`
	Output    string `short:"o" enum:"table,json" default:"table" help:"table (with counts by reason at the end) or json (one JSON line per dead letter)."`
	Counts    bool   `help:"Print only the counts by reason (json: one object)."`
}

// Run lists.
func (c *DlqListCmd) Run(ctx context.Context, g *Globals) error {
	dls, err := c.read(ctx, g)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, d := range dls {
		for _, k := range d.reasonKeys() {
			counts[d.Source+": "+k]++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if c.Output == "json" {
		p := render.NewPrinter(g.Stdout, render.Options{})
		if c.Counts {
			o := make(render.Object, 0, len(keys))
			for _, k := range keys {
				o = append(o, render.Field{Key: k, Value: counts[k]})
			}
			return p.Print(o)
		}
		for _, d := range dls {
			if err := p.Print(d.object(false)); err != nil {
				return fmt.Errorf("writing output: %w", err)
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(g.Stdout, 0, 4, 2, ' ', 0)
	if !c.Counts {
		fmt.Fprintln(tw, "POSITION\tDEAD AT\tSOURCE\tEVENT ID\tREPLAYABLE\tREASON")
		for _, d := range dls {
			ok, _ := d.replayable()
			reason := d.Reason
			if d.Times > 1 {
				reason = fmt.Sprintf("(%d times) %s", d.Times, reason)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.position(), render.Time(d.DeadAt), d.Source, d.EventID, yesNo(ok), clip(reason, 100))
		}
		fmt.Fprintf(tw, "\n%d dead letters\n", len(dls))
	}
	if len(keys) > 0 {
		fmt.Fprintln(tw, "\nCOUNT\tREASON")
		for _, k := range keys {
			fmt.Fprintf(tw, "%d\t%s\n", counts[k], clip(k, 140))
		}
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// DlqShowCmd prints dead letters in full.
type DlqShowCmd struct {
	dlqSelect   `embed:""`
	Original    bool `help:"Print only the original bytes, unchanged (one dead letter): a webhook body to correct and replay with dlq replay --body."`
	outputFlags `embed:""`
}

// Run prints.
func (c *DlqShowCmd) Run(ctx context.Context, g *Globals) error {
	if len(c.IDs) == 0 && c.Source == "" && c.Reason == "" && c.Since == "" && c.Until == "" {
		return usageError("name the dead letters to show: event ids or PARTITION:OFFSET, or filters (--source, --reason, --since, --until)")
	}
	dls, err := c.read(ctx, g)
	if err != nil {
		return err
	}
	if err := c.found(dls); err != nil {
		return err
	}
	if len(dls) == 0 {
		fmt.Fprintln(g.Stderr, "no dead letter matches")
		return nil
	}
	if c.Original {
		if len(dls) != 1 {
			return usageError("--original prints one dead letter; %d match", len(dls))
		}
		_, err := g.Stdout.Write(dls[0].Original)
		return err
	}
	if !c.Pretty && c.Fields == "" {
		c.Pretty = true
	}
	p, err := c.printer(g.Stdout)
	if err != nil {
		return err
	}
	for _, d := range dls {
		if err := p.Print(d.object(true)); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
	}
	return nil
}

// DlqReplayCmd replays dead letters.
type DlqReplayCmd struct {
	dlqSelect           `embed:""`
	URL                 string        `name:"url" env:"WABRIDGE_DLQ_REPLAY_URL" default:"http://127.0.0.1:8080/webhook" help:"Webhook listener to POST webhook bodies to (the running wabridge's --http-addr and --webhook-path)."`
	WebhookTokenHeader  string        `env:"WEBHOOK_TOKEN_HEADER" default:"X-Webhook-Token" help:"Header carrying the webhook secret."`
	WebhookToken        string        `env:"WEBHOOK_TOKEN" help:"Webhook secret sent in --webhook-token-header."`
	WebhookPathSecret   string        `env:"WEBHOOK_PATH_SECRET" help:"Path secret: bodies are POSTed to <url>/<secret>."`
	WebhookSigSecrets   []string      `name:"webhook-signature-secrets" env:"WEBHOOK_SIGNATURE_SECRETS" sep:"," help:"HMAC-SHA256 secrets of the listener; the first one signs each body (x-360dialog-signature)."`
	Body                string        `placeholder:"FILE" help:"POST this corrected body instead of the dead letter's (one webhook dead letter)."`
	TopicCommands       string        `env:"WABRIDGE_TOPIC_COMMANDS" default:"wabridge.commands" help:"Command topic to produce replayed commands to."`
	AllowUnknownOutcome bool          `help:"Also replay commands that failed with reason unknown_outcome (they may have been sent: the API may then send them twice)."`
	ScanSince           time.Duration `default:"720h" help:"How far back (before the oldest chosen dead letter) the command topic is read for commands replayed earlier."`
	Timeout             time.Duration `default:"10s" help:"How long one webhook POST may take."`
	DryRun              bool          `help:"Say what would be replayed; replay nothing."`
	Progress            string        `default:"auto" enum:"auto,always,never" help:"Progress bar on stderr: auto (when stderr is a terminal; else a line every 10s), always or never."`
}

// HeaderReplayOf marks a command produced by dlq replay with the event id
// of its dead letter; a second replay finds it and skips the dead letter,
// and the worker does not take it for a replay of its command id.
const HeaderReplayOf = outbound.HeaderReplayOf

// replaySummary counts what a replay did.
type replaySummary struct {
	Replayed, FailedAgain, Errors, Skipped, Already int
}

// Run replays.
func (c *DlqReplayCmd) Run(ctx context.Context, g *Globals) error {
	if c.Body != "" && len(c.IDs) != 1 {
		return usageError("--body replaces the body of one webhook dead letter: name it by its event id or PARTITION:OFFSET")
	}
	var body []byte
	if c.Body != "" {
		var err error
		if body, err = os.ReadFile(c.Body); err != nil {
			return fmt.Errorf("--body: %w", err)
		}
	}
	dls, err := c.read(ctx, g)
	if err != nil {
		return err
	}
	if err := c.found(dls); err != nil {
		return err
	}
	if body != nil {
		if len(dls) != 1 || dls[0].Source != "webhook" {
			return usageError("--body: %s is not one webhook dead letter", c.IDs[0])
		}
		dls[0].Original = body
	}
	var sum replaySummary
	var todo []*deadLetter
	for _, d := range dls {
		ok, why := d.replayable()
		if ok && body == nil && d.Source == "command" && !c.AllowUnknownOutcome && strings.HasPrefix(d.Reason, "unknown_outcome") {
			ok, why = false, "unknown_outcome: it may have been sent (--allow-unknown-outcome replays it)"
		}
		if !ok {
			sum.Skipped++
			fmt.Fprintf(g.Stderr, "skipped %s (%s): %s\n", d.EventID, d.position(), why)
			continue
		}
		todo = append(todo, d)
	}
	replayed := map[string]bool{}
	var prod *kgo.Client
	if slices.ContainsFunc(todo, func(d *deadLetter) bool { return d.Source == "command" }) {
		if replayed, err = c.replayedCommands(ctx, g, todo); err != nil {
			return err
		}
		if !c.DryRun {
			conn, err := c.conn(g)
			if err != nil {
				return err
			}
			if prod, err = newCommandProducer(ctx, conn, c.TopicCommands); err != nil {
				return err
			}
			defer prod.Close()
		}
	}
	if c.DryRun {
		for _, d := range todo {
			switch {
			case d.Source == "command" && replayed[d.EventID]:
				fmt.Fprintf(g.Stdout, "already replayed %s (command %s)\n", d.EventID, d.CommandID)
			case d.Source == "command":
				fmt.Fprintf(g.Stdout, "would produce command %s to %s (%d bytes, %d headers)\n", d.CommandID, c.TopicCommands, len(d.Original), len(d.Headers))
			default:
				fmt.Fprintf(g.Stdout, "would POST %s (%d bytes, %d failed parts) to %s\n", d.EventID, len(d.Original), len(d.Failures), c.URL)
			}
		}
		fmt.Fprintf(g.Stdout, "dry run: %d to replay, %d skipped\n", len(todo), sum.Skipped)
		return nil
	}
	bar := newProgress(c.Progress, g.Stderr, "replaying", int64(len(todo)))
	client := &http.Client{Timeout: c.Timeout}
	for _, d := range todo {
		if ctx.Err() != nil {
			bar.Abort()
			return ctx.Err()
		}
		if d.Source == "command" {
			if replayed[d.EventID] {
				sum.Already++
			} else if err := c.produce(ctx, prod, d); err != nil {
				sum.Errors++
				fmt.Fprintf(g.Stderr, "error %s: %v\n", d.EventID, err)
			} else {
				sum.Replayed++
			}
			bar.Add(1)
			continue
		}
		again, err := c.post(ctx, client, d)
		switch {
		case err != nil:
			sum.Errors++
			fmt.Fprintf(g.Stderr, "error %s: %v\n", d.EventID, err)
		case again != "":
			sum.FailedAgain++
			fmt.Fprintf(g.Stderr, "failed again %s: %s\n", d.EventID, again)
		default:
			sum.Replayed++
		}
		bar.Add(1)
	}
	bar.Finish()
	fmt.Fprintf(g.Stdout, "replayed %d, failed again %d, errors %d, already replayed %d, skipped %d\n",
		sum.Replayed, sum.FailedAgain, sum.Errors, sum.Already, sum.Skipped)
	if sum.FailedAgain > 0 || sum.Errors > 0 {
		return fmt.Errorf("%d dead letters failed again and %d could not be replayed", sum.FailedAgain, sum.Errors)
	}
	return nil
}

// notForwarded are request headers a replay does not send again: the
// length (the body may be a corrected one) and hop-by-hop headers (RFC 9110
// section 7.6.1).
var notForwarded = map[string]bool{
	"Content-Length": true, "Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Expect": true,
}

// post POSTs a webhook body with the listener's authentication. It returns
// why the listener dead-lettered (parts of) it again, or "".
func (c *DlqReplayCmd) post(ctx context.Context, client *http.Client, d *deadLetter) (string, error) {
	url := c.URL
	if c.WebhookPathSecret != "" {
		url = strings.TrimSuffix(url, "/") + "/" + c.WebhookPathSecret
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Original))
	if err != nil {
		return "", fmt.Errorf("--url %q: %w", c.URL, err)
	}
	for _, h := range d.Headers {
		if k := string(h[0]); !notForwarded[http.CanonicalHeaderKey(k)] && !inbound.IsSecretHeader(k) {
			req.Header.Add(k, string(h[1]))
		}
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.WebhookToken != "" {
		req.Header.Set(c.WebhookTokenHeader, c.WebhookToken)
	}
	if len(c.WebhookSigSecrets) > 0 {
		mac := hmac.New(sha256.New, []byte(c.WebhookSigSecrets[0]))
		mac.Write(d.Original)
		req.Header.Set(inbound.Header360Signature, hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %d %s", url, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	if id := resp.Header.Get(inbound.HeaderDeadLetter); id != "" {
		return fmt.Sprintf("%s parts not published again (dead letter %s)", resp.Header.Get(inbound.HeaderFailedParts), id), nil
	}
	return "", nil
}

// produce writes a command dead letter's original to the command topic:
// same key, same headers (command-id among them), plus HeaderReplayOf.
func (c *DlqReplayCmd) produce(ctx context.Context, prod *kgo.Client, d *deadLetter) error {
	rec := &kgo.Record{Topic: c.TopicCommands, Key: d.Key, Value: d.Original}
	for _, h := range d.Headers {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: string(h[0]), Value: h[1]})
	}
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: HeaderReplayOf, Value: []byte(d.EventID)})
	return prod.ProduceSync(ctx, rec).FirstErr()
}

// replayedCommands reads the command topic from ScanSince before the
// oldest chosen dead letter and returns the event ids of dead letters
// replayed there already (HeaderReplayOf).
func (c *DlqReplayCmd) replayedCommands(ctx context.Context, g *Globals, dls []*deadLetter) (map[string]bool, error) {
	conn, err := c.conn(g)
	if err != nil {
		return nil, err
	}
	oldest := time.Now()
	for _, d := range dls {
		if d.Source == "command" && d.DeadAt.Before(oldest) {
			oldest = d.DeadAt
		}
	}
	f, err := follow.Open(ctx, follow.Config{Conn: conn, Topics: []string{c.TopicCommands}, Start: follow.At(oldest.Add(-c.ScanSince)), StopAtEnd: true})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	for {
		r, err := f.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", c.TopicCommands, err)
		}
		if id := follow.Header(r, HeaderReplayOf); id != "" {
			out[id] = true
		}
	}
}

// newProgress is the progress display of a tool's pass (--progress auto,
// always or never): a bar on a terminal, else a line every 10 s.
func newProgress(mode string, stderr io.Writer, what string, total int64) campaign.Progress {
	switch mode {
	case "auto":
		mode = "lines"
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	case "always":
		mode = "bar"
	}
	return campaign.NewProgress(mode, stderr, what, total)
}
