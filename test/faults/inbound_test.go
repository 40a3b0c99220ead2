package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/d360/d360test"
)

const (
	phoneNumberID = "100000000000001"
	webhookToken  = "fault-suite-token"
	// giveUp is how long 360dialog waits for an answer to a webhook.
	giveUp = 5 * time.Second
)

// attempt is one POST of a webhook.
type attempt struct {
	code   int // 0: no answer (a transport error or the client's timeout)
	took   time.Duration
	outage bool // sent while the broker was down
	err    string
}

// webhookLoad posts webhooks from senders goroutines like 360dialog does:
// each webhook again after any answer other than 200 (1 s later, the
// Retry-After wabridge gives) until it is answered 200.
type webhookLoad struct {
	url     string
	client  *http.Client
	outage  atomic.Bool
	mu      sync.Mutex
	tries   []attempt
	acked   map[string]bool // event ids of webhooks answered 200
	pending atomic.Int64
	ctr     atomic.Int64
}

func newWebhookLoad(url string) *webhookLoad {
	// The client waits longer than 360dialog would, so that late answers are
	// measured rather than cut off.
	return &webhookLoad{url: url, client: &http.Client{Timeout: 15 * time.Second}, acked: map[string]bool{}}
}

// next returns the next webhook of sender s: three messages, then a status.
func (l *webhookLoad) next(s int) (body []byte, eventID string) {
	n := l.ctr.Add(1)
	// A new user for every message: each one makes a window write, so the
	// broker dies with some in flight.
	from := fmt.Sprintf("4917%08d", n)
	if n%4 == 0 {
		wamid := fmt.Sprintf("wamid.out-%d", n)
		at := time.Now()
		return d360test.StatusWebhook(d360test.StatusEvent{PhoneNumberID: phoneNumberID, MessageID: wamid, RecipientID: from, Status: "delivered", At: at}),
			fmt.Sprintf("status:%s:delivered:%d", wamid, at.Unix())
	}
	wamid := fmt.Sprintf("wamid.in-%d", n)
	return messageWebhook(phoneNumberID, from, wamid, time.Now(), fmt.Sprintf("hello %d", n)), "message:" + phoneNumberID + ":" + wamid
}

// deliver posts body until it is answered 200 or ctx ends.
func (l *webhookLoad) deliver(ctx context.Context, body []byte, eventID string) {
	l.pending.Add(1)
	defer l.pending.Add(-1)
	for ctx.Err() == nil {
		req, _ := http.NewRequest(http.MethodPost, l.url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Webhook-Token", webhookToken)
		a := attempt{outage: l.outage.Load()}
		t0 := time.Now()
		resp, err := l.client.Do(req)
		a.took = time.Since(t0)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			a.code = resp.StatusCode
		} else {
			a.err = err.Error()
		}
		l.mu.Lock()
		l.tries = append(l.tries, a)
		if a.code == http.StatusOK {
			l.acked[eventID] = true
		}
		l.mu.Unlock()
		if a.code == http.StatusOK {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// run sends from senders goroutines until stop is closed, then finishes
// delivering what is pending until ctx ends.
func (l *webhookLoad) run(ctx context.Context, senders int, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				body, id := l.next(s)
				l.deliver(ctx, body, id)
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

// report logs the figures of the attempts and returns the ones answered
// later than giveUp or not at all.
func (l *webhookLoad) report(t *testing.T) (late, noAnswer int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all, outage durations
	codes := map[int]int{}
	errs := map[string]int{}
	for _, a := range l.tries {
		all = append(all, a.took)
		if a.outage {
			outage = append(outage, a.took)
		}
		codes[a.code]++
		if a.code == 0 {
			noAnswer++
			e := a.err
			if i := strings.LastIndex(e, ": "); i >= 0 {
				e = e[i+2:]
			}
			errs[e]++
		}
	}
	late = all.over(giveUp)
	t.Logf("webhooks: %d attempts, answers %v (0 = none), no answer %d %v; answer time p50 %s p99 %s max %s; during the outage: %d attempts, p99 %s max %s; later than %s: %d",
		len(all), codes, noAnswer, errs, all.quantile(.5), all.quantile(.99), all.quantile(1),
		len(outage), outage.quantile(.99), outage.quantile(1), giveUp, late)
	return late, noAnswer
}

// The broker is killed (SIGKILL) for ~25 s while 16 senders post message
// and status webhooks, then started again with its data. Every webhook
// must be answered within 360dialog's 5 s, 200 or 503; every webhook
// answered 200 must have its record on its topic (read back by a consumer
// of the test's own).
func TestInboundBrokerOutage(t *testing.T) {
	inboundOutage(t, faultBroker(t, true), "kill", "start", 25*time.Second, "inbound-broker-kill")
}

// The broker is stopped (SIGSTOP) for 20 s: connections stay open and
// nothing answers, like a network partition. Same checks.
func TestInboundBrokerStall(t *testing.T) {
	inboundOutage(t, faultBroker(t, false), "pause", "resume", 20*time.Second, "inbound-broker-stall")
}

// inboundOutage runs the inbound scenario: the broker is taken down with
// local-kafka.sh down for outage, then brought back with up.
func inboundOutage(t *testing.T, brokers []string, down, up string, outage time.Duration, scenario string) {
	tp := newTopics(t)
	httpAddr := freeAddr(t)
	b := startBridge(t, append(tp.env(3),
		"KAFKA_BROKERS="+strings.Join(brokers, ","), "SCHEMA_REGISTRY_URL="+registry(t),
		"WABRIDGE_ONLY=inbound", "WEBHOOK_TOKEN="+webhookToken, "WABRIDGE_HTTP_ADDR="+httpAddr,
	)...)

	load := newWebhookLoad("http://" + httpAddr + "/webhook")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() { load.run(ctx, 16, stop); close(loadDone) }()

	time.Sleep(5 * time.Second)
	localKafka(t, down)
	load.outage.Store(true)
	t.Logf("broker: %s", down)
	readyz := map[int]int{}
	outageEnd := time.Now().Add(outage)
	dumped := false
	unreachable := 0 // /readyz answers that say Kafka is unreachable
	for time.Now().Before(outageEnd) {
		code, body := b.readyz()
		readyz[code]++
		if strings.Contains(body, "kafka unreachable") {
			unreachable++
		}
		if dir := os.Getenv("WABRIDGE_FAULTS_DUMP"); dir != "" && !dumped && time.Until(outageEnd) < outage/2 {
			dumped = true
			dumpGoroutines(t, b, dir+"/"+scenario+"-goroutines.txt")
		}
		time.Sleep(500 * time.Millisecond)
	}
	localKafka(t, up)
	load.outage.Store(false)
	t.Logf("broker: %s; /readyz during the outage: %v (0 = no answer)", up, readyz)
	time.Sleep(10 * time.Second)
	close(stop)
	<-loadDone
	if n := load.pending.Load(); n > 0 {
		t.Errorf("%d webhooks never answered 200 after the broker came back", n)
	}
	late, noAnswer := load.report(t)
	b.stop(t)

	msgs := readAll(t, brokers, tp.messages, 15*time.Second)
	sts := readAll(t, brokers, tp.statuses, 15*time.Second)
	onKafka := map[string]int{}
	for _, m := range append(msgs, sts...) {
		onKafka[header(m, "event-id")]++
	}
	lost, dups := 0, 0
	for id := range load.acked {
		if onKafka[id] == 0 {
			lost++
			if lost <= 5 {
				t.Errorf("%s was answered 200 but is not on Kafka", id)
			}
		}
	}
	for _, n := range onKafka {
		dups += n - 1
	}
	t.Logf("FIGURES %s: webhooks answered 200: %d; records on Kafka: %d; lost %d; duplicate records %d (harmless: retries of webhooks whose 200 was lost or late); answers later than %s: %d; no answer: %d; /readyz during the outage: %v, %d of them saying kafka unreachable",
		scenario, len(load.acked), len(msgs)+len(sts), lost, dups, giveUp, late, noAnswer, readyz, unreachable)
	if lost > 0 {
		t.Errorf("%d webhooks answered 200 are not on Kafka", lost)
	}
	if n := len(readyz); n != 1 || readyz[http.StatusOK] == 0 {
		t.Errorf("/readyz during the outage: %v, want 200 throughout (docs/faults.md: an outage must not take every instance out at once)", readyz)
	}
	if unreachable == 0 {
		t.Errorf("/readyz never said kafka unreachable during the outage")
	}
	if late > 0 || noAnswer > 0 {
		t.Errorf("%d answers came later than %s and %d not at all: 360dialog would have given up on them", late, giveUp, noAnswer)
	}
}

// dumpGoroutines saves the goroutines of b (served by --pprof) to path.
func dumpGoroutines(t *testing.T, b *bridge, path string) {
	resp, err := http.Get("http://" + b.admin + "/debug/pprof/goroutine?debug=2")
	if err != nil {
		t.Logf("goroutine dump: %v", err)
		return
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Logf("goroutine dump: %v", err)
		return
	}
	t.Logf("goroutines of wabridge during the outage: %s", path)
}

// The messages topic takes records of at most 20,000 bytes
// (max.message.bytes), less than the writer's 1 MiB: the broker refuses a
// 30 KB message with MESSAGE_TOO_LARGE, on every retry. The webhook must be
// answered 200 with the message in the dead-letter topic, not 503 for the
// days 360dialog retries.
func TestRecordTooLargeForTopic(t *testing.T) {
	brokers := faultBroker(t, false)
	tp := newTopics(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	limit := "20000"
	if _, err := kadm.NewClient(cl).CreateTopics(context.Background(), 3, -1, map[string]*string{"max.message.bytes": &limit}, tp.messages); err != nil {
		t.Fatal(err)
	}
	httpAddr := freeAddr(t)
	startBridge(t, append(tp.env(3),
		"KAFKA_BROKERS="+strings.Join(brokers, ","), "SCHEMA_REGISTRY_URL="+registry(t),
		"WABRIDGE_ONLY=inbound", "WEBHOOK_TOKEN="+webhookToken, "WABRIDGE_HTTP_ADDR="+httpAddr,
	)...)
	load := newWebhookLoad("http://" + httpAddr + "/webhook")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	small := "message:" + phoneNumberID + ":wamid.small"
	load.deliver(ctx, messageWebhook(phoneNumberID, "491711111111", "wamid.big", time.Now(), strings.Repeat("x", 30000)), "message:"+phoneNumberID+":wamid.big")
	load.deliver(ctx, messageWebhook(phoneNumberID, "491711111111", "wamid.small", time.Now(), "hi"), small)
	load.mu.Lock()
	tries := len(load.tries)
	load.mu.Unlock()
	dead := readAll(t, brokers, tp.dlq, 5*time.Second)
	msgs := readAll(t, brokers, tp.messages, 5*time.Second)
	t.Logf("FIGURES record-too-large-for-topic: %d attempts for 2 webhooks, %d dead letters, %d messages", tries, len(dead), len(msgs))
	if tries != 2 || len(dead) != 1 || len(msgs) != 1 || header(msgs[0], "event-id") != small {
		t.Errorf("%d attempts (want 2: no retry), %d dead letters (want 1), %d messages (want the small one)", tries, len(dead), len(msgs))
	}
}
