package window_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/kafkatest"
	"github.com/wabridge/wabridge/window"
)

// BenchmarkRestore measures how long a fresh Store takes to restore a
// window topic of a million users, and the heap its windows take. It runs
// only with -bench (the default go test skips benchmarks):
//
//	go test ./window/ -run XXX -bench Restore -benchtime 1x
//	KAFKA_BROKERS=127.0.0.1:9092 go test ./window/ -run XXX -bench Restore -benchtime 1x
//
// WABRIDGE_BENCH_USERS (default 1000000) sets the users and
// WABRIDGE_BENCH_HISTORY (default 1) the records per user, to show that
// memory follows the users, not the history. WABRIDGE_BENCH_OWN=1 makes the
// restoring Store the writer of every record (an instance that took every
// webhook itself keeps the keys of its windows, to tombstone them). Against kfake the broker runs
// in the same process (its copy of the records is on the heap before and
// after, so it cancels out of the figure, but it competes for the CPU).
func BenchmarkRestore(b *testing.B) {
	users := envInt(b, "WABRIDGE_BENCH_USERS", 1_000_000)
	history := envInt(b, "WABRIDGE_BENCH_HISTORY", 1)
	own := os.Getenv("WABRIDGE_BENCH_OWN") == "1"
	brokers := kafkatest.Brokers(b)
	tp := topics{brokers: brokers, windows: kafkatest.Topic(b, "windows"), optin: kafkatest.Topic(b, "optin")}
	now := time.Now()

	setup, err := window.New(window.Config{Brokers: brokers, WindowTopic: tp.windows, OptinTopic: tp.optin})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := setup.EnsureTopics(ctx); err != nil {
		b.Fatal(err)
	}
	setup.Close()
	t0 := time.Now()
	produceWindows(b, brokers, tp.windows, users, history, now)
	b.Logf("produced %d records for %d users in %s (%s broker)", users*history, users, time.Since(t0).Round(time.Millisecond), kafkatest.Backend())

	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		runtime.GC()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()

		t1 := time.Now()
		cfg := window.Config{Brokers: brokers, WindowTopic: tp.windows, OptinTopic: tp.optin, Now: func() time.Time { return now }, SweepInterval: time.Hour}
		if own {
			cfg.InstanceID = "wb-bench" // the writer of produceWindows
		}
		s, err := window.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(runCtx) }()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		if err := s.WaitReady(wctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		restore := time.Since(t1)

		b.StopTimer()
		stop()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		st := s.Stats()
		if st.Windows != users {
			b.Fatalf("restored %d windows, want %d (%+v)", st.Windows, users, st)
		}
		heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		b.ReportMetric(restore.Seconds(), "s/restore")
		b.ReportMetric(float64(st.Records)/restore.Seconds(), "records/s")
		b.ReportMetric(float64(heap)/float64(users), "heap-B/window")
		b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		b.Logf("restore of %d records (%d users): %s, %.0f records/s; heap +%.1f MiB = %.1f B per window",
			st.Records, users, restore.Round(time.Millisecond), float64(st.Records)/restore.Seconds(), float64(heap)/(1<<20), float64(heap)/float64(users))
		runtime.KeepAlive(s)
		s.Close()
		b.StartTimer()
	}
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// produceWindows writes history records per user, the newest last, with
// last messages spread over the 23 hours before now.
func produceWindows(b *testing.B, brokers []string, topic string, users, history int, now time.Time) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(20*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(200_000),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var (
		wg   sync.WaitGroup
		once sync.Once
		perr error
	)
	ctx := context.Background()
	span := 23 * time.Hour
	for h := range history {
		for u := range users {
			last := now.Add(-span + span/time.Duration(users)*time.Duration(u)).Add(-time.Duration(history-1-h) * time.Minute)
			v := window.WindowValue{LastInboundAt: last.UnixMilli(), By: "wb-bench"}
			rec := &kgo.Record{Key: []byte(window.Key("100000000000001", strconv.Itoa(15550000000+u))), Value: v.Encode()}
			wg.Add(1)
			cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
				if err != nil {
					once.Do(func() { perr = err })
				}
				wg.Done()
			})
		}
	}
	wg.Wait()
	if perr != nil {
		b.Fatal(fmt.Errorf("producing: %w", perr))
	}
}
