package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/sync/errgroup"

	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/schemas"
)

// TailCmd prints records of topics as JSON lines.
type TailCmd struct {
	Topics      []string      `arg:"" name:"topic" help:"Topics to read."`
	Brokers     string        `env:"KAFKA_BROKERS" default:"127.0.0.1:9092" help:"Kafka bootstrap brokers."`
	RegistryURL string        `env:"SCHEMA_REGISTRY_URL" default:"http://127.0.0.1:8081" help:"Schema registry to decode Avro values with."`
	FromEnd     bool          `help:"Start at the end of each partition instead of the beginning."`
	Max         int           `help:"Stop after this many records (0: no limit)."`
	Idle        time.Duration `default:"0s" help:"Stop after this long without a record (0: never)."`
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
		return err
	}
	if c.Max < 0 {
		return fmt.Errorf("--max %d: want 0 or more", c.Max)
	}
	reg, err := sr.NewClient(sr.URLs(c.RegistryURL), sr.HTTPClient(&http.Client{Timeout: 10 * time.Second}))
	if err != nil {
		return fmt.Errorf("schema registry %q: %w", c.RegistryURL, err)
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

	ctx, cancel = context.WithCancel(ctx)
	defer cancel()
	records := make(chan kafka.Message)
	grp, gctx := errgroup.WithContext(ctx)
	for _, t := range c.Topics {
		d, ok := details[t]
		if !ok || d.Err != nil {
			return fmt.Errorf("topic %q not found at %v", t, brokers)
		}
		parts := d.Partitions.Numbers()
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		for _, p := range parts {
			start := kafka.FirstOffset
			if c.FromEnd {
				start = kafka.LastOffset
			}
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: t, Partition: int(p), StartOffset: start, MaxWait: 250 * time.Millisecond})
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
