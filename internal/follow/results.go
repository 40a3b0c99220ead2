package follow

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/render"
	"github.com/wabridge/wabridge/outbound"
)

// Result is a SendResult event (schemas/send_result.avsc), the one outcome
// of a send command.
type Result struct {
	CommandID     string
	Outcome       string // accepted, rejected, failed, unknown
	To            string
	WAID          string
	MessageID     string
	MessageStatus string
	Attempts      int
	Reason        string
	Code          int
	HTTPStatus    int
	Title         string
	Details       string
	// Value is the whole event as the tools print it (render).
	Value any
}

// String is the one-line text form: the outcome, the command id and what
// the outcome carries.
func (r Result) String() string {
	if r.Outcome == "accepted" {
		s := fmt.Sprintf("accepted %s message_id=%s", r.CommandID, r.MessageID)
		if r.WAID != "" {
			s += " wa_id=" + r.WAID
		}
		if r.MessageStatus != "" {
			s += " message_status=" + r.MessageStatus
		}
		return s
	}
	s := fmt.Sprintf("%s %s reason=%s", r.Outcome, r.CommandID, r.Reason)
	if r.Code != 0 {
		s += " code=" + strconv.Itoa(r.Code)
	}
	if r.HTTPStatus != 0 {
		s += " http_status=" + strconv.Itoa(r.HTTPStatus)
	}
	if r.Title != "" {
		s += fmt.Sprintf(" title=%q", r.Title)
	}
	if r.Details != "" {
		s += fmt.Sprintf(" details=%q", r.Details)
	}
	return s
}

// DecodeResult decodes a record of the results topic.
func DecodeResult(ctx context.Context, dec *render.Decoder, r *kgo.Record) (Result, error) {
	v, err := dec.Value(ctx, r.Value)
	if err != nil {
		return Result{}, fmt.Errorf("decoding result at %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	o, ok := v.(render.Object)
	if !ok {
		return Result{}, fmt.Errorf("result at %s/%d@%d is not a record", r.Topic, r.Partition, r.Offset)
	}
	res := Result{
		CommandID: str(o, "command_id"), Outcome: str(o, "outcome"), To: str(o, "to"),
		WAID: str(o, "wa_id"), MessageID: str(o, "message_id"), MessageStatus: str(o, "message_status"),
		Attempts: num(o, "attempts"), Value: o,
	}
	if e, ok := get(o, "error").(render.Object); ok {
		res.Reason, res.Code, res.HTTPStatus = str(e, "reason"), num(e, "code"), num(e, "http_status")
		res.Title, res.Details = str(e, "title"), str(e, "details")
	}
	return res, nil
}

// NextResult returns the next result whose command-id header match
// accepts, decoded.
func (f *Follower) NextResult(ctx context.Context, dec *render.Decoder, match func(commandID string) bool) (Result, error) {
	for {
		r, err := f.Next(ctx)
		if err != nil {
			return Result{}, err
		}
		if id := Header(r, outbound.HeaderCommandID); id != "" && match(id) {
			return DecodeResult(ctx, dec, r)
		}
	}
}

func get(o render.Object, k string) any {
	v, _ := o.Get(k)
	return v
}

func str(o render.Object, k string) string {
	s, _ := get(o, k).(string)
	return s
}

func num(o render.Object, k string) int {
	switch x := get(o, k).(type) {
	case int32:
		return int(x)
	case int64:
		return int(x)
	case int:
		return x
	}
	return 0
}
