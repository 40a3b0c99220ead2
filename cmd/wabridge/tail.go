package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"golang.org/x/sync/errgroup"

	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/outbound"
	"github.com/wabridge/wabridge/schemas"
)

// TailCmd prints records of topics as JSON lines.
type TailCmd struct {
	Topics        []string `arg:"" name:"topic" help:"Topics to read."`
	Brokers       string   `env:"KAFKA_BROKERS" default:"127.0.0.1:9092" help:"Kafka bootstrap brokers."`
	registryFlags `embed:""`
	FromEnd       bool          `help:"Start at the end of each partition instead of the beginning."`
	Since         string        `placeholder:"TIME" help:"Start at the first record at or after TIME: RFC 3339 (2026-03-01T09:00:00Z) or a duration back from now (90m)."`
	Offset        string        `placeholder:"N" help:"Start at offset N of each partition; a negative N starts N records before each partition's end."`
	User          string        `placeholder:"USER" help:"Only records of this user: the record key (a phone number's digits, as wa_id, or a business-scoped user id)."`
	Kind          []string      `placeholder:"KIND" help:"Only records whose event-kind header is one of these: inbound_message, message_status, send_result, webhook_event, dead_letter."`
	CommandID     string        `placeholder:"ID" help:"Only records whose command-id header is ID (commands, results)."`
	Max           int           `help:"Stop after this many records (0: no limit)."`
	Idle          time.Duration `default:"0s" help:"Stop after this long without a record (0: never)."`
}

// Help is shown by --help.
func (TailCmd) Help() string {
	return `Reads every partition of the topics without a consumer group (nothing is committed) and prints one JSON line per record: topic, partition, offset, time, key, headers and the value, Avro decoded through the registry (JSON values as they are).

Examples:

    wabridge tail wabridge.results wabridge.statuses
    wabridge tail wabridge.statuses --user "+1 555 000 1111" --since 2h
    wabridge tail wabridge.messages --kind inbound_message --from-end
    wabridge tail wabridge.results --command-id cli-a2d7 --max 1
    wabridge tail wabridge.dlq --offset -20 --idle 2s`
}

// startOffsets returns where each partition starts for --since and
// --offset; nil for the default (the beginning, or the end with --from-end).
func (c *TailCmd) startOffsets(ctx context.Context, adm *kadm.Client) (map[string]map[int32]int64, error) {
	set := 0
	for _, b := range []bool{c.FromEnd, c.Since != "", c.Offset != ""} {
		if b {
			set++
		}
	}
	if set > 1 {
		return nil, usageError("use one of --from-end, --since and --offset")
	}
	out := map[string]map[int32]int64{}
	put := func(lo kadm.ListedOffsets) error {
		var err error
		lo.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				err = fmt.Errorf("offsets of %s/%d: %w", o.Topic, o.Partition, o.Err)
				return
			}
			if out[o.Topic] == nil {
				out[o.Topic] = map[int32]int64{}
			}
			out[o.Topic][o.Partition] = o.Offset
		})
		return err
	}
	switch {
	case c.Since != "":
		t, err := parseSince(c.Since, time.Now())
		if err != nil {
			return nil, usageError("--since: %v", err)
		}
		lo, err := adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), c.Topics...)
		if err != nil {
			return nil, fmt.Errorf("offsets after %s: %w", t.Format(time.RFC3339), err)
		}
		return out, put(lo)
	case c.Offset != "":
		n, err := strconv.ParseInt(c.Offset, 10, 64)
		if err != nil {
			return nil, usageError("--offset %q: want a whole number", c.Offset)
		}
		starts, err := adm.ListStartOffsets(ctx, c.Topics...)
		if err != nil {
			return nil, fmt.Errorf("start offsets: %w", err)
		}
		ends, err := adm.ListEndOffsets(ctx, c.Topics...)
		if err != nil {
			return nil, fmt.Errorf("end offsets: %w", err)
		}
		if err := put(ends); err != nil {
			return nil, err
		}
		for t, parts := range out {
			for p, end := range parts {
				first, _ := starts.Lookup(t, p)
				at := n
				if n < 0 {
					at = end + n
				}
				parts[p] = min(max(at, first.Offset), end)
			}
		}
		return out, nil
	}
	return nil, nil
}

// parseSince reads an RFC 3339 time or a duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			d = -d
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time such as 2026-03-01T09:00:00Z or a duration such as 90m", s)
	}
	return t, nil
}

// keep applies the filters to a record.
func (c *TailCmd) keep(m kafka.Message) bool {
	if c.User != "" && string(m.Key) != outbound.UserKey(c.User) {
		return false
	}
	if len(c.Kind) > 0 {
		k, _ := kafkaio.Header(m, "event-kind")
		if !slices.Contains(c.Kind, k) {
			return false
		}
	}
	if c.CommandID != "" {
		id, _ := kafkaio.Header(m, outbound.HeaderCommandID)
		if id != c.CommandID {
			return false
		}
	}
	return true
}

// tailLine is one printed record.
type tailLine struct {
	Topic     string            `json:"topic"`
	Partition int               `json:"partition"`
	Offset    int64             `json:"offset"`
	Time      time.Time         `json:"time"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers,omitempty"`
	Value     json.RawMessage   `json:"value,omitempty"`
	Text      string            `json:"text,omitempty"`
	Error     string            `json:"decode_error,omitempty"`
}

// Run reads until SIGINT, --max or --idle.
func (c *TailCmd) Run(ctx context.Context, g *Globals) error {
	brokers, err := kafkaio.ParseBrokers(c.Brokers)
	if err != nil {
		return usageError("%v", err)
	}
	if c.Max < 0 {
		return usageError("--max %d: want 0 or more", c.Max)
	}
	for _, k := range c.Kind {
		if _, err := schemas.Lookup(schemas.Kind(k)); err != nil {
			return usageError("--kind %q: want one of inbound_message, message_status, send_result, webhook_event, dead_letter", k)
		}
	}
	reg, err := c.client()
	if err != nil {
		return err
	}
	dec := schemas.NewDecoder(reg)

	adm, err := kafkaio.AdminClient(brokers, g.Logger)
	if err != nil {
		return err
	}
	defer adm.Close()
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	details, err := adm.ListTopics(lctx, c.Topics...)
	cancel()
	if err != nil {
		return fmt.Errorf("listing topics at %v: %w", brokers, err)
	}
	for _, t := range c.Topics {
		if d, ok := details[t]; !ok || d.Err != nil {
			return fmt.Errorf("topic %q not found at %v", t, brokers)
		}
	}

	lctx, cancel = context.WithTimeout(ctx, 15*time.Second)
	offsets, err := c.startOffsets(lctx, adm)
	cancel()
	if err != nil {
		return err
	}

	ctx, cancel = context.WithCancel(ctx)
	defer cancel()
	records := make(chan kafka.Message)
	grp, gctx := errgroup.WithContext(ctx)
	for _, t := range c.Topics {
		parts := details[t].Partitions.Numbers()
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		for _, p := range parts {
			start := kafka.FirstOffset
			if c.FromEnd {
				start = kafka.LastOffset
			}
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: t, Partition: int(p), StartOffset: start, MaxWait: 250 * time.Millisecond})
			if at, ok := offsets[t][p]; ok {
				if err := r.SetOffset(at); err != nil {
					r.Close()
					return fmt.Errorf("starting %s/%d at offset %d: %w", t, p, at, err)
				}
			}
			grp.Go(func() error {
				defer r.Close()
				for {
					m, err := r.ReadMessage(gctx) // no consumer group: nothing is committed
					if err != nil {
						if gctx.Err() != nil {
							return nil
						}
						return fmt.Errorf("reading %s/%d: %w", r.Config().Topic, r.Config().Partition, err)
					}
					select {
					case records <- m:
					case <-gctx.Done():
						return nil
					}
				}
			})
		}
	}

	enc := json.NewEncoder(g.Stdout)
	n := 0
	var idle <-chan time.Time
	for {
		if c.Idle > 0 {
			idle = time.After(c.Idle)
		}
		select {
		case <-gctx.Done():
			cancel()
			return grp.Wait()
		case <-idle:
			cancel()
			return ignoreCanceled(grp.Wait())
		case m := <-records:
			if !c.keep(m) {
				continue
			}
			line := tailLine{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Time, Key: string(m.Key)}
			if len(m.Headers) > 0 {
				line.Headers = map[string]string{}
				for _, h := range m.Headers {
					line.Headers[h.Key] = string(h.Value)
				}
			}
			if v, err := dec.JSON(gctx, m.Value); err == nil {
				line.Value = v
			} else if json.Valid(m.Value) {
				line.Value = m.Value
			} else {
				line.Text = string(m.Value)
				if !errors.Is(err, schemas.ErrNotConfluent) {
					line.Error = err.Error()
				}
			}
			if err := enc.Encode(line); err != nil {
				return err
			}
			n++
			if c.Max > 0 && n >= c.Max {
				cancel()
				return ignoreCanceled(grp.Wait())
			}
		}
	}
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
