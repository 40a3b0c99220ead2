// Package follow reads topics from a chosen position without a consumer
// group (nothing is committed): the record reader behind `wabridge tail`,
// `send --wait` and `bulk --wait`.
//
// Start positions follow kcat's -o forms
// (https://github.com/edenhill/kcat#readme): beginning, end, an absolute
// offset, -N (N records before each partition's end) and s@TIME (the first
// record at or after TIME); StopAtEnd is kcat's -e.
//
// A Follower is a consumer: it follows new records as they come, and reads
// all partitions at once, interleaved, as kcat does. Code that reads a
// fixed range partition by partition (the ledger restore, the bulk scan,
// `optin list`) uses kafkaio's range reader instead, which needs no live
// consumer and knows where a range ends even when its last offsets hold
// no record.
package follow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/kafkaio"
)

type startKind int

const (
	fromBeginning startKind = iota
	fromEnd
	fromOffset   // n
	fromRelative // n records before the end
	fromTime     // t
)

// Start is where each partition starts.
type Start struct {
	kind startKind
	n    int64
	t    time.Time
}

// Beginning starts at each partition's first record.
func Beginning() Start { return Start{kind: fromBeginning} }

// End starts after each partition's last record: only new records.
func End() Start { return Start{kind: fromEnd} }

// At starts at the first record at or after t.
func At(t time.Time) Start { return Start{kind: fromTime, t: t} }

// Offset starts at offset n of each partition; a negative n starts -n
// records before each partition's end.
func Offset(n int64) Start {
	if n < 0 {
		return Start{kind: fromRelative, n: -n}
	}
	return Start{kind: fromOffset, n: n}
}

// ParseStart reads a start position: beginning, end, N, -N or s@TIME, where
// TIME is an RFC 3339 time, a Unix time in milliseconds (as kcat takes it)
// or a duration back from now (90m).
func ParseStart(s string, now time.Time) (Start, error) {
	switch s {
	case "beginning":
		return Beginning(), nil
	case "end":
		return End(), nil
	}
	if rest, ok := strings.CutPrefix(s, "s@"); ok {
		t, err := ParseTime(rest, now)
		if err != nil {
			return Start{}, err
		}
		return At(t), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return Start{}, fmt.Errorf("offset %q: want beginning, end, a number N, -N (N records before the end) or s@TIME", s)
	}
	return Offset(n), nil
}

// ParseTime reads an RFC 3339 time, a Unix time in milliseconds, or a
// duration back from now.
func ParseTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			d = -d
		}
		return now.Add(-d), nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want an RFC 3339 time such as 2026-03-01T09:00:00Z, Unix milliseconds or a duration such as 90m", s)
	}
	return t, nil
}

// Config says what to read.
type Config struct {
	// Conn reaches Kafka (brokers, TLS and SASL, the client's logger).
	Conn   kafkaio.Conn
	Topics []string
	Start  Start
	// StopAtEnd makes Next return io.EOF once every partition has been
	// read up to its end as it was when Open listed it.
	StopAtEnd bool
	// Timeout bounds the metadata and offset requests of Open.
	// Default: 15s.
	Timeout time.Duration
}

type topicPartition struct {
	topic     string
	partition int32
}

// Follower reads records of the configured topics.
type Follower struct {
	cl  *kgo.Client
	buf []*kgo.Record
	// pending holds, with StopAtEnd, the end offset of each partition not
	// read to its end yet.
	pending   map[topicPartition]int64
	stopAtEnd bool
}

// Open checks that the topics exist, resolves the start of each partition
// and starts fetching.
func Open(ctx context.Context, cfg Config) (*Follower, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	cl, err := cfg.Conn.NewClient(
		kgo.DialTimeout(5*time.Second),
		kgo.FetchMaxWait(250*time.Millisecond),
		// Transaction markers are kept so the end of a partition that ends
		// with one is seen; Next skips them.
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return nil, err
	}
	f := &Follower{cl: cl, stopAtEnd: cfg.StopAtEnd, pending: map[topicPartition]int64{}}
	starts, err := f.resolve(ctx, cfg)
	if err != nil {
		cl.Close()
		return nil, err
	}
	cl.AddConsumePartitions(starts)
	return f, nil
}

func (f *Follower) resolve(ctx context.Context, cfg Config) (map[string]map[int32]kgo.Offset, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	adm := kadm.NewClient(f.cl)
	details, err := adm.ListTopics(ctx, cfg.Topics...)
	if err != nil {
		return nil, fmt.Errorf("kafka at %v not reachable: %w", cfg.Conn.Brokers, err)
	}
	for _, t := range cfg.Topics {
		if d, ok := details[t]; !ok || d.Err != nil {
			return nil, fmt.Errorf("topic %q not found at %v", t, cfg.Conn.Brokers)
		}
	}
	firsts, err := adm.ListStartOffsets(ctx, cfg.Topics...)
	if err == nil {
		err = firsts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("start offsets of %v: %w", cfg.Topics, err)
	}
	ends, err := adm.ListEndOffsets(ctx, cfg.Topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("end offsets of %v: %w", cfg.Topics, err)
	}
	var after kadm.ListedOffsets
	if cfg.Start.kind == fromTime {
		after, err = adm.ListOffsetsAfterMilli(ctx, cfg.Start.t.UnixMilli(), cfg.Topics...)
		if err == nil {
			err = after.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("offsets after %s: %w", cfg.Start.t.Format(time.RFC3339), err)
		}
	}
	out := map[string]map[int32]kgo.Offset{}
	ends.Each(func(e kadm.ListedOffset) {
		first, _ := firsts.Lookup(e.Topic, e.Partition)
		at := first.Offset
		switch cfg.Start.kind {
		case fromEnd:
			at = e.Offset
		case fromOffset:
			at = cfg.Start.n
		case fromRelative:
			at = e.Offset - cfg.Start.n
		case fromTime:
			if a, ok := after.Lookup(e.Topic, e.Partition); ok && a.Offset >= 0 {
				at = a.Offset
			} else {
				at = e.Offset
			}
		}
		at = min(max(at, first.Offset), e.Offset)
		if out[e.Topic] == nil {
			out[e.Topic] = map[int32]kgo.Offset{}
		}
		out[e.Topic][e.Partition] = kgo.NewOffset().At(at)
		if at < e.Offset {
			f.pending[topicPartition{e.Topic, e.Partition}] = e.Offset
		}
	})
	return out, nil
}

// Close stops fetching.
func (f *Follower) Close() { f.cl.Close() }

// Next returns the next record of any partition, in offset order within a
// partition. It returns io.EOF with StopAtEnd once every partition has been
// read to its end, and ctx's error when ctx ends first.
func (f *Follower) Next(ctx context.Context) (*kgo.Record, error) {
	for {
		for len(f.buf) > 0 {
			r := f.buf[0]
			f.buf = f.buf[1:]
			tp := topicPartition{r.Topic, r.Partition}
			if end, ok := f.pending[tp]; ok && r.Offset >= end-1 {
				delete(f.pending, tp)
			}
			if r.Attrs.IsControl() {
				continue
			}
			return r, nil
		}
		if f.stopAtEnd && len(f.pending) == 0 {
			return nil, io.EOF
		}
		fs := f.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("reading %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		f.buf = fs.Records()
	}
}

// Header returns the value of a record header.
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
