package window

import (
	"fmt"
	"strings"
	"time"
)

// Length is how long a user's message keeps the customer service window
// open (WhatsApp's rule:
// https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-messages#customer-service-windows).
const Length = 24 * time.Hour

// Status is what a Store knows about a window.
type Status string

const (
	// Unknown: no inbound message from the user in the last 24 h is known.
	Unknown Status = "unknown"
	// Open: the user's last message is less than 24 h (minus the grace) old
	// and the API has not refused a free-form message since.
	Open Status = "open"
	// Closed: the last message is older, or the API answered 131047 after it.
	Closed Status = "closed"
)

// State is a window as a Store knows it.
type State struct {
	Status Status
	// LastInbound is the time of the user's last message (WhatsApp's
	// timestamp, whole seconds); zero when unknown.
	LastInbound time.Time
	// ClosedAt is when the API last refused a free-form message with 131047
	// (this side's clock, whole seconds); zero when never, or not since the
	// last message.
	ClosedAt time.Time
	// ClosesAt is LastInbound + 24 h, when WhatsApp closes the window; zero
	// when LastInbound is.
	ClosesAt time.Time
}

// IsOpen says whether a free-form message sent at now goes out inside the
// window, closing it grace early.
func (s State) IsOpen(now time.Time, grace time.Duration) bool {
	if s.LastInbound.IsZero() || !s.LastInbound.After(s.ClosedAt) {
		return false
	}
	return now.Before(s.LastInbound.Add(Length - grace))
}

// at returns s with Status computed for now and grace.
func (s State) at(now time.Time, grace time.Duration) State {
	switch {
	case s.IsOpen(now, grace):
		s.Status = Open
	case s.LastInbound.IsZero() && s.ClosedAt.IsZero():
		s.Status = Unknown
	default:
		s.Status = Closed
	}
	if !s.LastInbound.IsZero() {
		s.ClosesAt = s.LastInbound.Add(Length)
	}
	return s
}

// String describes s in words, for rejection details and logs.
func (s State) String() string {
	var b strings.Builder
	b.WriteString("window ")
	b.WriteString(string(s.Status))
	if s.Status == "" {
		b.WriteString(string(Unknown))
	}
	if s.LastInbound.IsZero() {
		b.WriteString(": no message from the user in the last 24 h is known")
	} else {
		fmt.Fprintf(&b, ": last message from the user at %s, window ends at %s",
			s.LastInbound.UTC().Format(time.RFC3339), s.ClosesAt.UTC().Format(time.RFC3339))
	}
	if !s.ClosedAt.IsZero() {
		fmt.Fprintf(&b, "; the API refused a free-form message (131047) at %s", s.ClosedAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// entry is one window in memory, packed into 8 bytes so that a million
// windows take about 38 MB with the map (see the package doc):
//
//	bits  0–30  last inbound message, seconds since epoch2020 (0: none)
//	bits 31–61  131047 seen at, seconds since epoch2020 (0: none)
//	bit  62     mine: the newest record of the key was written by this Store
//	bit  63     tracked: the key is in this Store's tombstone heap
//
// 31 bits of seconds reach into 2088.
type entry uint64

const (
	epoch2020 = 1577836800 // 2020-01-01T00:00:00Z
	secBits   = 31
	secMask   = 1<<secBits - 1
	mineBit   = entry(1) << 62
	trackBit  = entry(1) << 63
	// maxUnixSec is the last second an entry can hold.
	maxUnixSec = epoch2020 + secMask
)

// packSec converts a Unix time in ms to entry seconds: 0 stays 0 (none),
// anything before 2020 becomes 1 (long expired), anything past 2088 the
// largest value.
func packSec(ms int64) entry {
	if ms <= 0 {
		return 0
	}
	s := ms/1000 - epoch2020
	switch {
	case s < 1:
		return 1
	case s > secMask:
		return secMask
	}
	return entry(s)
}

func unpackSec(v entry) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(int64(v)+epoch2020, 0).UTC()
}

func makeEntry(lastMs, closedMs int64) entry {
	return packSec(lastMs) | packSec(closedMs)<<secBits
}

func (e entry) last() entry   { return e & secMask }
func (e entry) closed() entry { return e >> secBits & secMask }
func (e entry) mine() bool    { return e&mineBit != 0 }
func (e entry) tracked() bool { return e&trackBit != 0 }

// times is e without its flags.
func (e entry) times() entry { return e &^ (mineBit | trackBit) }

// merge joins two windows: each time is the later of the two. Merging is
// commutative, associative and idempotent, so instances that apply the same
// records in any order (even from different partitions) agree.
func (e entry) merge(o entry) entry {
	return max(e.last(), o.last()) | max(e.closed(), o.closed())<<secBits | e&(mineBit|trackBit)
}

// expiry is the Unix second after which the entry no longer matters: the
// window it describes ended, and a late record of a message older than a
// 131047 can no longer be mistaken for a newer one.
func (e entry) expiry() int64 {
	return int64(max(e.last(), e.closed())) + epoch2020 + int64(Length/time.Second)
}

func (e entry) expired(now time.Time) bool { return now.Unix() >= e.expiry() }

func (e entry) state() State {
	s := State{LastInbound: unpackSec(e.last())}
	if c := e.closed(); c != 0 && c >= e.last() {
		s.ClosedAt = unpackSec(c)
	}
	return s
}
