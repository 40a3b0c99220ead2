package outbound

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func keyJob(key string, n int) job {
	return job{key: key, rec: &kgo.Record{Offset: int64(n)}}
}

func TestKeyQueueKeepsOrderPerKeyAndBoundsRunningJobs(t *testing.T) {
	var running, peak atomic.Int32
	var mu sync.Mutex
	ran := map[string][]int64{}
	q := newKeyQueue(func(j *job) {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(time.Millisecond)
		mu.Lock()
		ran[j.key] = append(ran[j.key], j.rec.Offset)
		mu.Unlock()
		running.Add(-1)
	}, 4)
	for i := range 200 {
		q.submit(keyJob(fmt.Sprintf("k%d", i%10), i))
	}
	q.wait()
	if p := peak.Load(); p > 4 || p < 2 {
		t.Errorf("peak of %d jobs running at once, want 2..4 (4 tokens, 10 keys)", p)
	}
	for k, offs := range ran {
		if len(offs) != 20 || !slices.IsSorted(offs) {
			t.Errorf("key %s ran %v, want its 20 jobs in submission order", k, offs)
		}
	}
}

func TestKeyQueueReleasedTokenLetsOthersRun(t *testing.T) {
	release := make(chan struct{})
	var others atomic.Int32
	q := newKeyQueue(func(j *job) {
		if j.key == "slow" {
			j.turn.release() // waits for a retry without its token
			<-release
			if err := j.turn.acquire(context.Background()); err != nil {
				t.Error(err)
			}
			return
		}
		others.Add(1)
	}, 1)
	q.submit(keyJob("slow", 0))
	for i := range 5 {
		q.submit(keyJob(fmt.Sprintf("k%d", i), i))
	}
	for i := 0; others.Load() < 5; i++ {
		if i == 500 {
			t.Fatalf("%d of 5 other jobs ran while the only token's holder waited without it", others.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	q.wait()
}

func TestKeyQueueAcquireGivesUpWhenCtxEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	block := make(chan struct{})
	var gotErr atomic.Value
	q := newKeyQueue(func(j *job) {
		switch j.key {
		case "a":
			j.turn.release()
			<-block // meanwhile b takes the only token and keeps it
			cancel()
			gotErr.Store(fmt.Sprint(j.turn.acquire(ctx)))
		case "b":
			close(block)
			<-ctx.Done()
		}
	}, 1)
	q.submit(keyJob("a", 0))
	q.submit(keyJob("b", 1))
	q.wait()
	if got := gotErr.Load(); got != context.Canceled.Error() {
		t.Errorf("acquire after ctx ended = %v, want %v", got, context.Canceled)
	}
	// The token count is right again: a new job runs.
	ran := make(chan struct{})
	q2 := q
	q2.run = func(*job) { close(ran) }
	q2.submit(keyJob("c", 2))
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("no job ran after a job lost its token: a token leaked")
	}
	q2.wait()
}

func TestKeyQueueDropPromotesTheNextKeptJob(t *testing.T) {
	hold := make(chan struct{})
	var mu sync.Mutex
	var ran []int64
	q := newKeyQueue(func(j *job) {
		if j.key == "busy" {
			<-hold
		}
		mu.Lock()
		ran = append(ran, j.rec.Offset)
		mu.Unlock()
	}, 1)
	q.submit(keyJob("busy", 0)) // takes the only token
	// Key x: 1 is ready, 2 and 3 wait behind it; 1 and 2 are dropped.
	q.submit(keyJob("x", 1))
	q.submit(keyJob("x", 2))
	q.submit(keyJob("x", 3))
	q.submit(keyJob("y", 4))
	dropped := q.drop(func(j job) bool { return j.rec.Offset == 1 || j.rec.Offset == 2 || j.rec.Offset == 4 })
	var offs []int64
	for _, j := range dropped {
		offs = append(offs, j.rec.Offset)
	}
	slices.Sort(offs)
	if !slices.Equal(offs, []int64{1, 2, 4}) {
		t.Errorf("dropped %v, want 1, 2, 4", offs)
	}
	close(hold)
	q.wait()
	if !slices.Equal(ran, []int64{0, 3}) {
		t.Errorf("ran %v, want 0 then 3 (the kept job of x)", ran)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting) != 0 || len(q.ready) != 0 {
		t.Errorf("left waiting %v, ready %v", q.waiting, q.ready)
	}
}
