package follow_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/follow"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/kafkatest"
)

func TestParseStart(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want follow.Start
		err  bool
	}{
		{in: "beginning", want: follow.Beginning()},
		{in: "end", want: follow.End()},
		{in: "0", want: follow.Offset(0)},
		{in: "42", want: follow.Offset(42)},
		{in: "-20", want: follow.Offset(-20)},
		{in: "s@2026-03-01T09:00:00Z", want: follow.At(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))},
		{in: "s@1772355600000", want: follow.At(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))},
		{in: "s@3h", want: follow.At(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))},
		{in: "s@yesterday", err: true},
		{in: "e", err: true},
		{in: "", err: true},
		{in: "1.5", err: true},
	}
	for _, tc := range tests {
		got, err := follow.ParseStart(tc.in, now)
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if !tc.err && fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: got %v want %v", tc.in, got, tc.want)
		}
	}
}

// Each start form reads the records it names, and StopAtEnd stops after
// the last record that was there at Open.
func TestFollowerStartsAndStopsAtEnd(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, "follow")
	empty := kafkatest.Topic(t, "empty")
	kafkatest.CreateTopics(t, brokers, 2, topic, empty)
	var msgs []kafka.Message
	for i := range 10 {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint(i))})
	}
	kafkatest.Produce(t, brokers, topic, msgs...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	read := func(start follow.Start, topics ...string) []string {
		t.Helper()
		f, err := follow.Open(ctx, follow.Config{Conn: kafkaio.Conn{Brokers: brokers}, Topics: topics, Start: start, StopAtEnd: true})
		if err != nil {
			t.Fatalf("open %v: %v", start, err)
		}
		defer f.Close()
		var got []string
		for {
			r, err := f.Next(ctx)
			if errors.Is(err, io.EOF) {
				return got
			}
			if err != nil {
				t.Fatalf("next: %v", err)
			}
			got = append(got, string(r.Value))
		}
	}
	if got := read(follow.Beginning(), topic); len(got) != 10 {
		t.Errorf("beginning: %v", got)
	}
	if got := read(follow.End(), topic); len(got) != 0 {
		t.Errorf("end: %v", got)
	}
	if got := read(follow.Offset(-1), topic); len(got) != 2 {
		t.Errorf("-1 on 2 partitions: %v", got)
	}
	if got := read(follow.Offset(-100), topic); len(got) != 10 {
		t.Errorf("-100: %v", got)
	}
	if got := read(follow.Offset(1000), topic); len(got) != 0 {
		t.Errorf("past the end: %v", got)
	}
	if got := read(follow.At(time.Now().Add(-time.Hour)), topic); len(got) != 10 {
		t.Errorf("an hour ago: %v", got)
	}
	if got := read(follow.At(time.Now().Add(time.Hour)), topic); len(got) != 0 {
		t.Errorf("in an hour: %v", got)
	}
	if got := read(follow.Beginning(), empty, topic); len(got) != 10 {
		t.Errorf("with an empty topic: %v", got)
	}

	_, err := follow.Open(ctx, follow.Config{Conn: kafkaio.Conn{Brokers: brokers}, Topics: []string{topic + ".typo"}})
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing topic: %v", err)
	}
}

// Without StopAtEnd, a record produced after Open is read.
func TestFollowerFollowsNewRecords(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, "follow-new")
	kafkatest.CreateTopics(t, brokers, 1, topic)
	kafkatest.Produce(t, brokers, topic, kafka.Message{Value: []byte("old")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := follow.Open(ctx, follow.Config{Conn: kafkaio.Conn{Brokers: brokers}, Topics: []string{topic}, Start: follow.End()})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kafkatest.Produce(t, brokers, topic, kafka.Message{Value: []byte("new")})
	r, err := f.Next(ctx)
	if err != nil || string(r.Value) != "new" {
		t.Fatalf("got %v, %v", r, err)
	}
}

// A tool's client logs nothing before its first connection: the tool's
// own error is the one line the user sees. (logs_test.go: after it, logs pass.)
func TestClientLogsStartAtTheFirstConnection(t *testing.T) {
	var buf syncBuf
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if _, err := follow.Open(ctx, follow.Config{Conn: kafkaio.Conn{Brokers: []string{closed}, Logger: log}, Topics: []string{"t"}, Timeout: 2 * time.Second}); err == nil {
		t.Fatal("open on a closed port succeeded")
	}
	if buf.String() != "" {
		t.Errorf("logged before any connection:\n%s", buf.String())
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ParseStart reads what a user types: it never panics, and an s@TIME it
// accepts has a time ParseTime accepts.
func FuzzParseStart(f *testing.F) {
	for _, s := range []string{"beginning", "end", "0", "-20", "s@2026-03-01T09:00:00Z", "s@1772355600000", "s@90m", "s@", "-", "e"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		_, err := follow.ParseStart(s, now)
		if rest, ok := strings.CutPrefix(s, "s@"); ok && err == nil {
			if _, terr := follow.ParseTime(rest, now); terr != nil {
				t.Fatalf("%q accepted, but its time is refused: %v", s, terr)
			}
		}
	})
}
