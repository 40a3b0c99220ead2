package inbound

import "sync"

// recentIDs remembers the last n event ids it was given: a ring of ids in
// the order they were added, and a set over the same ids. It is safe for
// concurrent use.
type recentIDs struct {
	mu   sync.Mutex
	ring []string
	next int
	set  map[string]struct{}
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{ring: make([]string, n), set: make(map[string]struct{}, n)}
}

func (r *recentIDs) has(id string) bool {
	r.mu.Lock()
	_, ok := r.set[id]
	r.mu.Unlock()
	return ok
}

// add remembers ids, forgetting the oldest beyond the capacity.
func (r *recentIDs) add(ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if _, ok := r.set[id]; ok {
			continue
		}
		if old := r.ring[r.next]; old != "" {
			delete(r.set, old)
		}
		r.ring[r.next] = id
		r.set[id] = struct{}{}
		r.next = (r.next + 1) % len(r.ring)
	}
}
