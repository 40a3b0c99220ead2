package kafkaio

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The gate passes a client's logs once a connection succeeded, not after a
// failed one.
func TestConnectGate(t *testing.T) {
	var buf bytes.Buffer
	g := &connectGate{log: kgoRecorder{slog.New(slog.NewTextHandler(&buf, nil))}}
	g.Log(kgo.LogLevelWarn, "before")
	g.OnBrokerConnect(kgo.BrokerMetadata{}, 0, nil, errors.New("refused"))
	g.Log(kgo.LogLevelWarn, "after a failure")
	if buf.Len() != 0 {
		t.Fatalf("logged before a connection: %s", buf.String())
	}
	g.OnBrokerConnect(kgo.BrokerMetadata{}, 0, nil, nil)
	g.Log(kgo.LogLevelWarn, "connected")
	if !bytes.Contains(buf.Bytes(), []byte("connected")) {
		t.Fatalf("nothing logged after the connection: %q", buf.String())
	}
}

type kgoRecorder struct{ l *slog.Logger }

func (k kgoRecorder) Level() kgo.LogLevel { return kgo.LogLevelDebug }
func (k kgoRecorder) Log(_ kgo.LogLevel, msg string, _ ...any) {
	k.l.Warn(msg)
}
