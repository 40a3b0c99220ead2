package kafkaio

import (
	"context"

	"github.com/segmentio/kafka-go"
)

// Publisher writes records where wabridge uses kafka-go (the webhook
// records of the inbound half). Its contract, which publisher_test.go checks
// against every implementation on a real Kafka protocol:
//
//   - WriteMessages returns nil only once Kafka acknowledged every record
//     from all in-sync replicas (acks=all);
//   - records with the same key keep their order, within one call and from
//     one call to the next, and share a partition;
//   - a record larger than the writer takes fails the call before anything
//     is written, with a kafka.MessageTooLargeError whose Message is that
//     record; a record the broker refuses as too large (a topic's smaller
//     max.message.bytes) fails it with kafka.WriteErrors holding
//     kafka.MessageSizeTooLarge at that record's index;
//   - when ctx ends, WriteMessages returns ctx's error at once (the records
//     may or may not have been written: callers carry idempotency keys);
//   - with no broker answering, it returns an error once its attempts are
//     spent, not never.
//
// Callers declare the interface they use (inbound.Publisher has this
// method set).
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

var (
	_ Publisher = (*kafka.Writer)(nil)
	_ Publisher = TracingWriter{}
)
