package kafkaio

import (
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ClientLogs routes a kgo client's logs to log, starting at the client's
// first successful connection: until then a failure is the caller's error
// (a tool's, or the bridge's "not reachable" at start), said once on one
// line, not also a client WARN line before it.
func ClientLogs(log *slog.Logger) []kgo.Opt {
	g := &connectGate{log: KgoLogger(log)}
	return []kgo.Opt{kgo.WithLogger(g), kgo.WithHooks(g)}
}

// connectGate is a kgo.Logger that is closed until a broker connection
// succeeds (kgo.HookBrokerConnect).
type connectGate struct {
	log  kgo.Logger
	open atomic.Bool
}

var (
	_ kgo.Logger            = (*connectGate)(nil)
	_ kgo.HookBrokerConnect = (*connectGate)(nil)
)

func (g *connectGate) Level() kgo.LogLevel { return g.log.Level() }

func (g *connectGate) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if g.open.Load() {
		g.log.Log(level, msg, keyvals...)
	}
}

func (g *connectGate) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		g.open.Store(true)
	}
}
