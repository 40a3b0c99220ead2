package outbound

import (
	"context"
	"sync"
)

// keyQueue runs jobs so that jobs with the same key run one after another in
// submission order, while jobs with different keys run in parallel, up to
// a number of run tokens at once. It is how commands for one recipient stay
// in order while different recipients proceed concurrently, even inside one
// partition.
//
// A job runs on a goroutine only while it holds a token: jobs of idle keys
// wait in a queue without one, so thousands of recipients with work waiting
// cost no goroutine stacks. A running job gives its token back while it
// waits for a retry (job.turn), so recipients that back off do not hold up
// the others.
type keyQueue struct {
	run func(*job) // runs one job; called on its own goroutine
	// next, when set, is told (with the queue's lock held) of each job that
	// becomes ready or next in line behind its key's running job, so its
	// ledger intent can be written while it waits (Worker.nextInLine).
	next   func(job)
	tokens chan struct{}

	mu sync.Mutex
	// Jobs wait as pointers: a job is large, and these slices grow and
	// shrink with every job.
	waiting map[string][]*job // per busy key, the jobs after the ready or running one
	ready   []*job            // the next job of keys that are not running, in turn
	jobs    sync.WaitGroup    // submitted and not run or dropped
}

func newKeyQueue(run func(*job), tokens int) *keyQueue {
	return &keyQueue{run: run, tokens: make(chan struct{}, max(1, tokens)), waiting: make(map[string][]*job)}
}

// submit queues j behind earlier jobs of its key, or makes it ready.
func (q *keyQueue) submit(j job) {
	q.jobs.Add(1)
	q.mu.Lock()
	if queue, busy := q.waiting[j.key]; busy {
		if len(queue) == 0 {
			q.nextInLine(&j)
		}
		q.waiting[j.key] = append(queue, &j)
		q.mu.Unlock()
		return
	}
	q.waiting[j.key] = nil // busy, nothing behind
	q.nextInLine(&j)
	q.ready = append(q.ready, &j)
	q.mu.Unlock()
	q.start()
}

// start runs ready jobs while tokens are free.
func (q *keyQueue) start() {
	for {
		select {
		case q.tokens <- struct{}{}:
		default:
			return
		}
		j, ok := q.pop()
		if !ok {
			<-q.tokens
			// A job made ready after pop and before this release found
			// no token: look again.
			if q.hasReady() {
				continue
			}
			return
		}
		go q.loop(j)
	}
}

// nextInLine tells next of j (q.mu held).
func (q *keyQueue) nextInLine(j *job) {
	if q.next != nil {
		q.next(*j)
	}
}

func (q *keyQueue) pop() (*job, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.ready) == 0 {
		return nil, false
	}
	j := q.ready[0]
	q.ready[0] = nil
	q.ready = q.ready[1:]
	return j, true
}

func (q *keyQueue) hasReady() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ready) > 0
}

// loop runs j, then, with the same token, the next ready job (the next of
// j's key goes to the back of the ready queue, so keys take turns), until
// none is ready or a job lost the token.
func (q *keyQueue) loop(j *job) {
	t := &turn{q: q, held: true}
	for {
		j.turn = t
		q.run(j)
		q.mu.Lock()
		if queue := q.waiting[j.key]; len(queue) > 0 {
			q.ready = append(q.ready, queue[0])
			q.waiting[j.key] = queue[1:]
			if len(queue) > 1 {
				q.nextInLine(queue[1])
			}
		} else {
			delete(q.waiting, j.key)
		}
		q.mu.Unlock()
		q.jobs.Done()
		if !t.held {
			break
		}
		next, ok := q.pop()
		if !ok {
			t.release()
			break
		}
		j = next
	}
	q.start() // a job made ready just now may have found no token
}

// turn is a running job's hold on its token.
type turn struct {
	q    *keyQueue
	held bool
}

// release gives the token back while the job waits; acquire takes one
// again. A job that could not take one again (ctx ended) finishes without.
func (t *turn) release() {
	if t == nil || !t.held {
		return
	}
	t.held = false
	<-t.q.tokens
	t.q.start()
}

func (t *turn) acquire(ctx context.Context) error {
	if t == nil || t.held {
		return nil
	}
	select {
	case t.q.tokens <- struct{}{}:
		t.held = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drop removes queued (not running) jobs for which match is true and
// returns them.
func (q *keyQueue) drop(match func(job) bool) []job {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []job
	for k, queue := range q.waiting {
		kept := queue[:0]
		for _, j := range queue {
			if match(*j) {
				out = append(out, *j)
			} else {
				kept = append(kept, j)
			}
		}
		clear(queue[len(kept):])
		q.waiting[k] = kept
	}
	ready := q.ready[:0]
	for _, j := range q.ready {
		if !match(*j) {
			ready = append(ready, j)
			continue
		}
		out = append(out, *j)
		// The key's next job that stays takes its place.
		if queue := q.waiting[j.key]; len(queue) > 0 {
			ready = append(ready, queue[0])
			q.waiting[j.key] = queue[1:]
		} else {
			delete(q.waiting, j.key)
		}
	}
	clear(q.ready[len(ready):])
	q.ready = ready
	for range out {
		q.jobs.Done()
	}
	return out
}

// wait blocks until every submitted job has run or been dropped.
func (q *keyQueue) wait() { q.jobs.Wait() }
