package kafkaio_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/kafkatest"
)

// series returns, for each wabridge_kafka_* family in reg, the client_id
// label values it has series for, and the value of produce_records_total
// per client and topic.
func series(t *testing.T, reg *prometheus.Registry) (map[string]map[string]bool, map[[2]string]float64) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	clients := map[string]map[string]bool{}
	produced := map[[2]string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			l := labels(m)
			if clients[f.GetName()] == nil {
				clients[f.GetName()] = map[string]bool{}
			}
			clients[f.GetName()][l["client_id"]] = true
			if f.GetName() == kafkaio.ClientMetricsNamespace+"_produce_records_total" {
				produced[[2]string{l["client_id"], l["topic"]}] = m.GetCounter().GetValue()
			}
		}
	}
	return clients, produced
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// Named clients get kprom's series with their client id as the client_id
// label; two open at once under one name do not collide; an unnamed client
// adds nothing; a closed client's series go away.
func TestClientMetrics(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, "metrics")
	kafkatest.CreateTopics(t, brokers, 1, topic)

	reg := prometheus.NewRegistry()
	conn := kafkaio.Conn{Brokers: brokers, Metrics: kafkaio.NewClientMetrics(reg)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	produce := func(c kafkaio.Conn, n int) *kgo.Client {
		t.Helper()
		cl, err := c.NewClient(kgo.DefaultProduceTopic(topic))
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
				t.Fatalf("producing: %v", err)
			}
		}
		return cl
	}
	a := produce(conn.Named("a"), 3)
	a2 := produce(conn.Named("a"), 2) // same name, open at once
	short := produce(conn, 1)         // a short-lived client: no name
	short.Close()

	name := kafkaio.ClientMetricsNamespace + "_produce_records_total"
	// kgo calls the hook that counts a batch once its answer is handled,
	// which may be just after ProduceSync returned: wait for the counts.
	clients, produced := seriesWhen(t, reg, func(produced map[[2]string]float64) bool {
		return produced[[2]string{"wabridge-a", topic}] == 3 && produced[[2]string{"wabridge-a-2", topic}] == 2
	})
	for want, n := range map[string]float64{"wabridge-a": 3, "wabridge-a-2": 2} {
		if got := produced[[2]string{want, topic}]; got != n {
			t.Errorf("%s{client_id=%q,topic=%q} = %v, want %v (all: %v)", name, want, topic, got, n, produced)
		}
	}
	for _, fam := range []string{"_connects_total", "_request_duration_e2e_seconds", "_produce_bytes_total", "_buffered_produce_records_total"} {
		got := clients[kafkaio.ClientMetricsNamespace+fam]
		if !got["wabridge-a"] || !got["wabridge-a-2"] || len(got) != 2 {
			t.Errorf("%s%s has series for clients %v, want wabridge-a and wabridge-a-2", kafkaio.ClientMetricsNamespace, fam, got)
		}
	}

	a.Close()
	clients, _ = series(t, reg)
	if got := clients[name]; got["wabridge-a"] || !got["wabridge-a-2"] {
		t.Errorf("after closing wabridge-a, %s has series for %v, want wabridge-a-2 alone", name, got)
	}
	// The name is free again: a new client takes it, counting from zero.
	a3 := produce(conn.Named("a"), 1)
	defer a3.Close()
	a2.Close()
	_, produced = seriesWhen(t, reg, func(produced map[[2]string]float64) bool {
		return produced[[2]string{"wabridge-a", topic}] == 1
	})
	if len(produced) != 1 || produced[[2]string{"wabridge-a", topic}] != 1 {
		t.Errorf("%s after re-creating wabridge-a = %v, want wabridge-a alone at 1", name, produced)
	}
}

// seriesWhen is series once ok holds for its produced counts, or after
// 10 s.
func seriesWhen(t *testing.T, reg *prometheus.Registry, ok func(map[[2]string]float64) bool) (map[string]map[string]bool, map[[2]string]float64) {
	t.Helper()
	for i := 0; ; i++ {
		clients, produced := series(t, reg)
		if ok(produced) || i == 200 {
			return clients, produced
		}
		time.Sleep(50 * time.Millisecond)
	}
}
