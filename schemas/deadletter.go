package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
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
	// OriginalKind says what Original is for webhooks: OriginalRequestBody
	// or OriginalRequestSummary; "" for commands.
	OriginalKind string
	// Failures are the parts of a webhook body that were not published.
	Failures []Failure
}

// What the Original of a webhook dead letter is.
const (
	// OriginalRequestBody: the request body as received, byte for byte.
	OriginalRequestBody = "request_body"
	// OriginalRequestSummary: a summary of a body that was not kept.
	OriginalRequestSummary = "request_summary"
)

// Failure is a part of a webhook body that was not published.
type Failure struct {
	// Path is where in the body (entry[0].changes[1].value.messages[3]);
	// "" for the body as a whole.
	Path   string
	Reason string
}

// String is the failure in words: the path, then the reason unless the
// reason names the path already.
func (f Failure) String() string {
	if f.Path == "" || strings.HasPrefix(f.Reason, f.Path) {
		return f.Reason
	}
	return f.Path + ": " + f.Reason
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
	failures := make([]any, 0, len(d.Failures))
	for _, f := range d.Failures {
		failures = append(failures, map[string]any{"path": f.Path, "reason": f.Reason})
	}
	n := map[string]any{
		"event_id": d.EventID(), "dead_at": d.At.UTC().Truncate(time.Millisecond),
		"source": d.Source, "reason": d.Reason,
		"command_id": Optional("string", d.CommandID), "source_topic": nil, "source_partition": nil, "source_offset": nil,
		"headers": headers, "content_type": Optional("string", d.ContentType), "chunk": nil,
		"original": d.Original, "original_kind": Optional("string", d.OriginalKind), "failures": failures,
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
