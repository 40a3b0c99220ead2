package outbound

import "sync"

// keyQueue runs jobs so that jobs with the same key run one after another in
// submission order, while jobs with different keys run in parallel. It is
// how commands for one recipient stay in order while different recipients
// proceed concurrently, even inside one partition.
type keyQueue struct {
	run func(job) // runs one job; called on its own goroutine

	mu      sync.Mutex
	waiting map[string][]job // per key, the jobs after the running one
	wg      sync.WaitGroup
}

func newKeyQueue(run func(job)) *keyQueue {
	return &keyQueue{run: run, waiting: make(map[string][]job)}
}

// submit queues j behind earlier jobs of its key, or starts it.
func (q *keyQueue) submit(j job) {
	q.mu.Lock()
	if queue, busy := q.waiting[j.key]; busy {
		q.waiting[j.key] = append(queue, j)
		q.mu.Unlock()
		return
	}
	q.waiting[j.key] = nil // busy, nothing behind
	q.mu.Unlock()
	q.wg.Add(1)
	go q.loop(j)
}

// loop runs j and then the jobs queued behind it, until its key is idle.
func (q *keyQueue) loop(j job) {
	defer q.wg.Done()
	for {
		q.run(j)
		q.mu.Lock()
		queue := q.waiting[j.key]
		if len(queue) == 0 {
			delete(q.waiting, j.key)
			q.mu.Unlock()
			return
		}
		next := queue[0]
		q.waiting[j.key] = queue[1:]
		q.mu.Unlock()
		j = next
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
			if match(j) {
				out = append(out, j)
			} else {
				kept = append(kept, j)
			}
		}
		q.waiting[k] = kept
	}
	return out
}

// wait blocks until every job has run.
func (q *keyQueue) wait() { q.wg.Wait() }
