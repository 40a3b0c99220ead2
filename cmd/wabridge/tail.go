package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/follow"
	"github.com/wabridge/wabridge/internal/render"
	"github.com/wabridge/wabridge/outbound"
	"github.com/wabridge/wabridge/schemas"
)

// TailCmd prints records of topics as JSON lines.
type TailCmd struct {
	Topics        []string `arg:"" name:"topic" help:"Topics to read."`
	KafkaFlags    `embed:""`
	registryFlags `embed:""`
	Offset        string        `short:"o" placeholder:"START" help:"Where each partition starts, as kcat's -o: beginning (default), end, N (offset N), -N (N records before the end), s@TIME (first record at or after TIME: RFC 3339, Unix milliseconds or a duration back from now such as 2h)."`
	FromEnd       bool          `help:"Start at the end of each partition: --offset end."`
	Since         string        `placeholder:"TIME" help:"Start at the first record at or after TIME: --offset s@TIME."`
	Exit          bool          `short:"e" help:"Exit once every partition has been read to the end it had at start (kcat's -e)."`
	User          string        `placeholder:"USER" help:"Only records of this user: the record key (a phone number's digits, as wa_id, or a business-scoped user id)."`
	Kind          []string      `placeholder:"KIND" help:"Only records whose event-kind header is one of these: inbound_message, message_status, send_result, webhook_event, dead_letter."`
	CommandID     string        `placeholder:"ID" help:"Only records whose command-id header is ID (commands, results)."`
	Max           int           `help:"Stop after this many records (0: no limit)."`
	Idle          time.Duration `default:"0s" help:"Stop after this long without a record (0: never)."`
	outputFlags   `embed:""`
}

// Help is shown by --help.
func (TailCmd) Help() string {
	return `Reads every partition of the topics without a consumer group (nothing is committed) and prints one JSON line per record: topic, partition, offset, time, key, headers and the value. Avro values are decoded through the registry and printed as plain JSON: unions unwrapped, fields in schema order, times in ISO 8601 UTC. JSON values are printed as they are, other values as "text".

Examples:

    wabridge tail wabridge.results wabridge.statuses
    wabridge tail wabridge.statuses --user "+1 555 000 1111" --since 2h
    wabridge tail wabridge.messages --kind inbound_message --from-end
    wabridge tail wabridge.results --command-id cli-a2d7 -e
    wabridge tail wabridge.dlq --offset -20 -e
    wabridge tail wabridge.results -o s@2026-03-01T09:00:00Z -e --fields offset,command_id,outcome,error.reason`
}

// start reads the start flags.
func (c *TailCmd) start(now time.Time) (follow.Start, error) {
	set := 0
	for _, b := range []bool{c.FromEnd, c.Since != "", c.Offset != ""} {
		if b {
			set++
		}
	}
	switch {
	case set > 1:
		return follow.Start{}, usageError("use one of --offset, --from-end and --since")
	case c.FromEnd:
		return follow.End(), nil
	case c.Since != "":
		t, err := follow.ParseTime(c.Since, now)
		if err != nil {
			return follow.Start{}, usageError("--since: %v", err)
		}
		return follow.At(t), nil
	case c.Offset != "":
		s, err := follow.ParseStart(c.Offset, now)
		if err != nil {
			return follow.Start{}, usageError("--offset: %v", err)
		}
		return s, nil
	}
	return follow.Beginning(), nil
}

// keep applies the filters to a record.
func (c *TailCmd) keep(r *kgo.Record) bool {
	if c.User != "" && string(r.Key) != outbound.UserKey(c.User) {
		return false
	}
	if len(c.Kind) > 0 && !slices.Contains(c.Kind, follow.Header(r, "event-kind")) {
		return false
	}
	if c.CommandID != "" && follow.Header(r, outbound.HeaderCommandID) != c.CommandID {
		return false
	}
	return true
}

// line is the printed form of a record.
func line(ctx context.Context, dec *render.Decoder, r *kgo.Record) render.Object {
	o := render.Object{
		{Key: "topic", Value: r.Topic}, {Key: "partition", Value: r.Partition}, {Key: "offset", Value: r.Offset},
		{Key: "time", Value: render.Time(r.Timestamp)}, {Key: "key", Value: string(r.Key)},
	}
	if len(r.Headers) > 0 {
		h := make(render.Object, 0, len(r.Headers))
		for _, x := range r.Headers {
			h = append(h, render.Field{Key: x.Key, Value: string(x.Value)})
		}
		o = append(o, render.Field{Key: "headers", Value: h})
	}
	v, ok, err := dec.RecordValue(ctx, r.Value)
	switch {
	case ok:
		o = append(o, render.Field{Key: "value", Value: v})
	case len(r.Value) > 0:
		o = append(o, render.Field{Key: "text", Value: string(r.Value)})
	}
	if err != nil {
		o = append(o, render.Field{Key: "decode_error", Value: err.Error()})
	}
	return o
}

// Run reads until SIGINT, --max, --idle or, with -e, the end.
func (c *TailCmd) Run(ctx context.Context, g *Globals) error {
	conn, err := c.conn(g)
	if err != nil {
		return err
	}
	if c.Max < 0 {
		return usageError("--max %d: want 0 or more", c.Max)
	}
	if c.Idle < 0 {
		return usageError("--idle %s: want 0 or more", c.Idle)
	}
	for _, k := range c.Kind {
		if _, err := schemas.Lookup(schemas.Kind(k)); err != nil {
			return usageError("--kind %q: want one of inbound_message, message_status, send_result, webhook_event, dead_letter", k)
		}
	}
	start, err := c.start(time.Now())
	if err != nil {
		return err
	}
	out, err := c.printer(g.Stdout)
	if err != nil {
		return err
	}
	dec, err := c.decoder()
	if err != nil {
		return err
	}
	f, err := follow.Open(ctx, follow.Config{Conn: conn, Topics: c.Topics, Start: start, StopAtEnd: c.Exit})
	if err != nil {
		return err
	}
	defer f.Close()

	n := 0
	for {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if c.Idle > 0 {
			rctx, cancel = context.WithTimeout(ctx, c.Idle)
		}
		r, err := f.Next(rctx)
		cancel()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil && ctx.Err() != nil:
			return nil // interrupted
		case err != nil && errors.Is(err, context.DeadlineExceeded):
			return nil // --idle
		case err != nil:
			return err
		}
		if !c.keep(r) {
			continue
		}
		if err := out.Print(line(ctx, dec, r)); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
		n++
		if c.Max > 0 && n >= c.Max {
			return nil
		}
	}
}
