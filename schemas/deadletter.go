package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/linkedin/goavro/v2"
)

// DeadLetterRecord describes a dead letter; Native renders the DeadLetter
// record (dead_letter.avsc).
type DeadLetterRecord struct {
	Source, Reason string
	At             time.Time
	CommandID      string
	// Position of the original record (commands); Topic "" for none.
	Topic       string
	Partition   int32
	Offset      int64
	Headers     [][2][]byte // key, value
	ContentType string
	// Chunk numbering (webhooks): Number 0 for an unsplit original.
	ChunkNumber, ChunkCount int
	SHA256                  string
	Size                    int64
	Original                []byte
}

// EventID is the record's deterministic id.
func (d DeadLetterRecord) EventID() string {
	if d.Topic != "" {
		return fmt.Sprintf("dlq:%s:%s/%d/%d", d.Source, d.Topic, d.Partition, d.Offset)
	}
	sum := d.SHA256
	if sum == "" {
		s := sha256.Sum256(d.Original)
		sum = hex.EncodeToString(s[:])
	}
	id := "dlq:" + d.Source + ":" + sum[:32]
	if d.ChunkNumber > 0 {
		id += fmt.Sprintf(":%d", d.ChunkNumber)
	}
	return id
}

// Native is the goavro native form.
func (d DeadLetterRecord) Native() map[string]any {
	headers := make([]any, 0, len(d.Headers))
	for _, h := range d.Headers {
		headers = append(headers, map[string]any{"key": string(h[0]), "value": h[1]})
	}
	n := map[string]any{
		"event_id": d.EventID(), "dead_at": d.At.UTC().Truncate(time.Millisecond),
		"source": d.Source, "reason": d.Reason,
		"command_id": Optional("string", d.CommandID), "source_topic": nil, "source_partition": nil, "source_offset": nil,
		"headers": headers, "content_type": Optional("string", d.ContentType), "chunk": nil,
		"original": d.Original,
	}
	if d.Topic != "" {
		n["source_topic"] = goavro.Union("string", d.Topic)
		n["source_partition"] = goavro.Union("int", d.Partition)
		n["source_offset"] = goavro.Union("long", d.Offset)
	}
	if d.ChunkNumber > 0 {
		n["chunk"] = goavro.Union("io.wabridge.events.Chunk", map[string]any{
			"number": int32(d.ChunkNumber), "count": int32(d.ChunkCount), "sha256": d.SHA256, "size": d.Size,
		})
	}
	return n
}
