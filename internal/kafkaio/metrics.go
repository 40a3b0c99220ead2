package kafkaio

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// ClientMetricsNamespace prefixes the franz-go clients' own metrics:
// wabridge_kafka_connects_total, wabridge_kafka_produce_bytes_total, ...
// (docs/operations.md lists them).
const ClientMetricsNamespace = "wabridge_kafka"

// ClientMetrics puts the franz-go clients' own metrics (plugin/kprom:
// connections, bytes and records produced and fetched per topic, request
// latency per broker, buffered records) on a Prometheus registry, one set
// of series per named client, told apart by the client_id label.
//
// Only named clients (Conn.Named) get them: the long-lived clients of the
// bridge. A short-lived client (a ledger restore, a snapshot read, a tool)
// gets no hook at all, so it leaves no series behind and none of its counters
// start from zero under a label another client used a moment ago.
//
// kprom registers a client's collectors when the client is made and
// unregisters them when it is closed (its OnClientClosed hook), so a client
// made again after a Close takes its series over. Two clients with the same
// name open at once would register the same series, which the registry
// refuses (kprom panics): the second gets the name with a suffix, "-2", "-3".
type ClientMetrics struct {
	reg prometheus.Registerer

	mu   sync.Mutex
	live map[string]bool // client ids of open clients
}

// NewClientMetrics returns ClientMetrics that register on reg.
func NewClientMetrics(reg prometheus.Registerer) *ClientMetrics {
	return &ClientMetrics{reg: reg, live: map[string]bool{}}
}

// claim reserves a client id for name, with a suffix when an open client
// has it.
func (m *ClientMetrics) claim(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := name
	for n := 2; m.live[id]; n++ {
		id = name + "-" + strconv.Itoa(n)
	}
	m.live[id] = true
	return id
}

func (m *ClientMetrics) release(id string) {
	m.mu.Lock()
	delete(m.live, id)
	m.mu.Unlock()
}

// options returns the client id and the hooks of a client named name.
func (m *ClientMetrics) options(name string) (id string, opts []kgo.Opt) {
	id = m.claim(name)
	k := kprom.NewMetrics(ClientMetricsNamespace,
		kprom.Registerer(m.reg),
		kprom.WithClientLabel(), // client_id, from kgo.ClientID below
		// Per topic, without the broker: bytes and records are what a
		// dashboard compares between clients; the broker-level series
		// (connects, request latency) carry node_id.
		kprom.FetchAndProduceDetail(kprom.ByTopic, kprom.Records, kprom.UncompressedBytes),
		kprom.Histograms(kprom.RequestDurationE2E),
	)
	return id, []kgo.Opt{kgo.ClientID(id), kgo.WithHooks(k, releaseOnClose{m, id})}
}

// releaseOnClose frees a client id when its client is closed (after kprom's
// own OnClientClosed has unregistered the series: hooks run in order).
type releaseOnClose struct {
	m  *ClientMetrics
	id string
}

var _ kgo.HookClientClosed = releaseOnClose{}

func (r releaseOnClose) OnClientClosed(*kgo.Client) { r.m.release(r.id) }
