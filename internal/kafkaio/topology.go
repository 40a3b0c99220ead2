package kafkaio

import (
	"strconv"
	"time"
)

// The configs of the topics wabridge keeps state in, in one place: the
// bridge creates them at start (window.Store.EnsureTopics, the outbound
// worker's ledger) and `wabridge topics --create` creates them the same way.

// WindowTopicConfigs: compacted (the last message per user is the window)
// and deleted after two windows' length, in hourly segments, so a restore
// reads little.
func WindowTopicConfigs() map[string]*string {
	return map[string]*string{
		"cleanup.policy":      ptr("compact,delete"),
		"retention.ms":        ptr(ms(48 * time.Hour)),
		"segment.ms":          ptr(ms(time.Hour)),
		"delete.retention.ms": ptr(ms(time.Hour)),
	}
}

// OptinTopicConfigs: compacted only; a consent record never expires.
func OptinTopicConfigs() map[string]*string {
	return map[string]*string{"cleanup.policy": ptr("compact")}
}

// LedgerTopicConfigs: the send ledger, compacted and kept 7 days. It needs
// as many partitions as the command topic.
func LedgerTopicConfigs() map[string]*string {
	return map[string]*string{"cleanup.policy": ptr("compact,delete"), "retention.ms": ptr(ms(7 * 24 * time.Hour))}
}

func ptr(s string) *string { return &s }

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
