package outbound

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// numberLimiter is the token bucket of one business number. It shrinks on
// throughput errors (130429, 4, 80007) and grows back on success: additive
// increase, multiplicative decrease.
type numberLimiter struct {
	lim *rate.Limiter
	max rate.Limit

	mu      sync.Mutex
	lastCut time.Time
}

func newNumberLimiter(perSecond float64, burst int) *numberLimiter {
	if burst < 1 {
		burst = 1
	}
	if perSecond < 0 {
		return &numberLimiter{lim: rate.NewLimiter(rate.Inf, burst), max: rate.Inf}
	}
	return &numberLimiter{lim: rate.NewLimiter(rate.Limit(perSecond), burst), max: rate.Limit(perSecond)}
}

// reserve takes a token from the bucket: the caller may send after delay;
// cancel gives the token back when it does not.
func (n *numberLimiter) reserve() (delay time.Duration, cancel func()) {
	r := n.lim.Reserve()
	return r.Delay(), r.Cancel
}

// slowDown halves the rate, at most once a second, down to 1/s.
func (n *numberLimiter) slowDown(now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if now.Sub(n.lastCut) < time.Second {
		return
	}
	n.lastCut = now
	n.lim.SetLimitAt(now, max(n.lim.Limit()/2, 1))
}

// succeeded grows the rate back by 1 % of the maximum.
func (n *numberLimiter) succeeded(now time.Time) {
	if l := n.lim.Limit(); l < n.max {
		n.lim.SetLimitAt(now, min(n.max, l+n.max/100))
	}
}

// recipientPacer holds the pause of recipients that hit the pair rate limit
// (131056): ≥ 6 s, growing with each repeat, for that recipient only.
type recipientPacer struct {
	base  time.Duration
	mu    sync.Mutex
	until map[string]pause
	// swept is when the pauses past remembering were last dropped.
	swept time.Time
}

type pause struct {
	until  time.Time
	strike int
}

func newRecipientPacer(base time.Duration) *recipientPacer {
	return &recipientPacer{base: base, until: make(map[string]pause)}
}

// hit records a 131056 for key and returns how long to wait.
func (r *recipientPacer) hit(key string, now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.swept) > time.Minute {
		// A recipient paused once and never written to again would stay
		// for ever: drop the pauses whose strikes no longer count.
		for k, p := range r.until {
			if r.forgotten(p, now) {
				delete(r.until, k)
			}
		}
		r.swept = now
	}
	p := r.until[key]
	if r.forgotten(p, now) {
		p.strike = 0 // quiet for a while: start over
	}
	d := r.base << min(p.strike, 6) // 6 s, 12 s, 24 s, ... ≤ 6.4 min by default
	p.strike++
	p.until = now.Add(d)
	r.until[key] = p
	return d
}

// forgotten: p ended long enough before now that its strikes no longer
// count.
func (r *recipientPacer) forgotten(p pause, now time.Time) bool {
	return now.After(p.until.Add(time.Minute + r.base))
}

// pausedFor is how long key stays paused (0: not paused).
func (r *recipientPacer) pausedFor(key string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.until[key]
	if !ok {
		return 0
	}
	if time.Now().After(p.until.Add(time.Minute)) {
		delete(r.until, key)
		return 0
	}
	return max(0, time.Until(p.until))
}
