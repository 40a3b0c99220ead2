// Package metrics names every Prometheus metric wabridge exposes, in one
// place, so dashboards and alerts have a single list to read. The one
// exception is the franz-go clients' own series, wabridge_kafka_*{client_id},
// which kprom makes per client (kafkaio.ClientMetrics, on this Registry).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics holds wabridge's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	// Inbound.
	WebhookRequests  *prometheus.CounterVec // by HTTP code
	WebhookDuration  prometheus.Histogram   // seconds from request to answer
	WebhookRecords   *prometheus.CounterVec // records published, by kind
	DeadLetters      *prometheus.CounterVec // by source (webhook, command)
	PublishDuration  prometheus.Histogram   // seconds for Kafka to acknowledge a webhook's records
	WebhookAuthFails prometheus.Counter

	// Outbound.
	Sends        *prometheus.CounterVec // by outcome (accepted, rejected, failed), API error code and reason
	SendRetries  *prometheus.CounterVec // by class
	APILatency   prometheus.Histogram   // seconds per API call
	APIAlerts    *prometheus.CounterVec // errors that mean the deployment is broken, by code
	InFlight     prometheus.Gauge
	CommandsRead prometheus.Counter
	// Send ledger.
	LedgerSkips     *prometheus.CounterVec   // redelivered commands not sent again, by ledger state
	KeptOutcomes    prometheus.Gauge         // API outcomes held for commands whose partition was revoked before their records were written
	CommitListCut   prometheus.Counter       // commits whose list of finished offsets did not fit in the offset's metadata
	AbandonedSends  prometheus.Counter       // commands abandoned after at least one API call (revocation/shutdown): may go out twice
	LedgerRestore   prometheus.Histogram     // seconds to restore one partition's ledger
	UnknownOutcomes prometheus.Counter       // redelivered commands found mid-send in the ledger
	RateLimitWait   prometheus.Histogram     // seconds a send waited for its business number's token bucket
	ConsumerLag     *prometheus.GaugeVec     // command records beyond the committed offset, by topic and partition
	LedgerWrite     *prometheus.HistogramVec // seconds for Kafka to acknowledge a send's ledger writes, by stage (intent, result)
}

// New registers every metric in a fresh registry, with the Go and process
// collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := promauto.With(reg) // each New* below also registers what it makes
	m := &Metrics{Registry: reg}

	m.WebhookRequests = f.NewCounterVec(prometheus.CounterOpts{
		Name: "wabridge_webhook_requests_total", Help: "Webhook requests answered, by HTTP status code.",
	}, []string{"code"})
	m.WebhookDuration = f.NewHistogram(prometheus.HistogramOpts{
		Name: "wabridge_webhook_duration_seconds", Help: "Time from receiving a webhook to answering it.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	m.WebhookRecords = f.NewCounterVec(prometheus.CounterOpts{
		Name: "wabridge_webhook_records_total", Help: "Records published from webhooks and acknowledged by Kafka, by event kind.",
	}, []string{"kind"})
	m.DeadLetters = f.NewCounterVec(prometheus.CounterOpts{
		Name: "wabridge_dead_letters_total", Help: "Records written to the dead-letter topic, by source.",
	}, []string{"source"})
	m.PublishDuration = f.NewHistogram(prometheus.HistogramOpts{
		Name: "wabridge_kafka_publish_duration_seconds", Help: "Time for Kafka to acknowledge (acks=all) one webhook's records.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	m.WebhookAuthFails = f.NewCounter(prometheus.CounterOpts{
		Name: "wabridge_webhook_auth_failures_total", Help: "Webhook requests refused for failed authentication.",
	})
	m.Sends = f.NewCounterVec(prometheus.CounterOpts{
		Name: "wabridge_sends_total", Help: "Commands finished, by outcome, API error code (empty when none) and reason (why a command was rejected or failed: invalid_command, outside_customer_service_window, no_opt_in, api_error, ...; empty when accepted).",
	}, []string{"outcome", "code", "reason"})
	m.SendRetries = f.NewCounterVec(prometheus.CounterOpts{
		Name: "wabridge_send_retries_total", Help: "API calls retried, by error class.",
	}, []string{"class"})
	m.APILatency = f.NewHistogram(prometheus.HistogramOpts{
		Name: "wabridge_api_request_duration_seconds", Help: "Duration of POST /messages calls.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.APIAlerts = f.NewCounterVec(prometheus.CounterOpts{
		Name: "wabridge_api_alert_errors_total", Help: "API errors that mean the deployment is broken (key, account, payment), by code.",
	}, []string{"code"})
	m.InFlight = f.NewGauge(prometheus.GaugeOpts{
		Name: "wabridge_sends_in_flight", Help: "Commands read and not finished: being sent, or queued behind an earlier command for the same recipient.",
	})
	m.CommandsRead = f.NewCounter(prometheus.CounterOpts{
		Name: "wabridge_commands_read_total", Help: "Commands read from the command topic.",
	})
	m.LedgerSkips = f.NewCounterVec(prometheus.CounterOpts{
		Name: "wabridge_ledger_skips_total", Help: "Redelivered commands the ledger kept from being sent again, by ledger state (done: skipped; accepted: result written from the ledger).",
	}, []string{"state"})
	m.KeptOutcomes = f.NewGauge(prometheus.GaugeOpts{
		Name: "wabridge_outcomes_kept", Help: "Outcomes the API gave whose records could not be written before their partition was revoked: held (up to an hour) so that reading the command again writes them instead of sending again.",
	})
	m.CommitListCut = f.NewCounter(prometheus.CounterOpts{
		Name: "wabridge_commit_list_cut_total", Help: "Offset commits whose list of commands finished beyond the committed offset did not fit in the commit's metadata (4,000 bytes): admission of the partition waits until it fits; a revocation writes the unlisted commands to the ledger as done.",
	})
	m.AbandonedSends = f.NewCounter(prometheus.CounterOpts{
		Name: "wabridge_sends_abandoned_total", Help: "Commands abandoned mid-send (partition revoked or shutdown) after calling the API: their outcome is unknown and the next owner may send them again.",
	})
	m.LedgerRestore = f.NewHistogram(prometheus.HistogramOpts{
		Name: "wabridge_ledger_restore_seconds", Help: "Time to restore one partition's send ledger on assignment.",
		Buckets: restoreBuckets,
	})
	m.ConsumerLag = f.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wabridge_consumer_lag_records", Help: "Command records beyond the committed offset, per owned partition of the command topic.",
	}, []string{"topic", "partition"})
	m.UnknownOutcomes = f.NewCounter(prometheus.CounterOpts{
		Name: "wabridge_sends_unknown_outcome_total", Help: "Redelivered commands whose previous owner stopped between the API call and the ledger write: the API may or may not have sent them.",
	})
	m.RateLimitWait = f.NewHistogram(prometheus.HistogramOpts{
		Name: "wabridge_rate_limit_wait_seconds", Help: "Time a send waited for its business number's token bucket.",
		Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10},
	})
	m.LedgerWrite = f.NewHistogramVec(prometheus.HistogramOpts{
		Name: "wabridge_ledger_write_duration_seconds", Help: "Time for Kafka to acknowledge a send's ledger writes, by stage: intent (before the API call), result (the accepted entry with the result event).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"stage"})
	m.zero()
	return m
}

// zero creates the series whose label values are known in advance, so that
// they are scraped as 0 from the start: a rate() or an alert over them works
// before the first event instead of seeing no series at all.
func (m *Metrics) zero() {
	for _, code := range []string{"200", "401", "413", "503"} {
		m.WebhookRequests.WithLabelValues(code)
	}
	for _, kind := range []string{"inbound_message", "message_status", "webhook_event"} {
		m.WebhookRecords.WithLabelValues(kind)
	}
	for _, source := range []string{"webhook", "command"} {
		m.DeadLetters.WithLabelValues(source)
	}
	for _, outcome := range []string{"accepted", "rejected", "failed"} {
		m.Sends.WithLabelValues(outcome, "", "")
	}
	for _, class := range []string{"transient", "slow_down", "recipient_backoff"} {
		m.SendRetries.WithLabelValues(class)
	}
	for _, state := range []string{"done", "accepted"} {
		m.LedgerSkips.WithLabelValues(state)
	}
}

// SetBuildInfo exposes wabridge_build_info{version,commit,go_version} = 1,
// the series dashboards join on and alerts test for absence.
func (m *Metrics) SetBuildInfo(version, commit, goVersion string) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wabridge_build_info", Help: "Always 1; the labels say which build runs.",
	}, []string{"version", "commit", "go_version"})
	m.Registry.MustRegister(g)
	g.WithLabelValues(version, commit, goVersion).Set(1)
}

// WindowStats are the numbers the window and opt-in state reports.
type WindowStats struct {
	Windows, Consents int
	Records, Invalid  int64
	RestoreSeconds    float64
}

// WatchWindow exposes the window and opt-in state's numbers, read from
// stats at every scrape.
func (m *Metrics) WatchWindow(stats func() WindowStats) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wabridge_windows_open", Help: "Customer service windows held in memory (users who wrote in the last 24 h)."},
			func() float64 { return float64(stats().Windows) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wabridge_optin_users", Help: "Users with a recorded opt-in state."},
			func() float64 { return float64(stats().Consents) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wabridge_window_records_applied_total", Help: "Window and opt-in records applied from the compacted topics."},
			func() float64 { return float64(stats().Records) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wabridge_window_records_invalid_total", Help: "Window and opt-in records skipped as unreadable."},
			func() float64 { return float64(stats().Invalid) }),
		restoreHistogram{stats: stats, desc: prometheus.NewDesc("wabridge_window_restore_seconds",
			"Time to restore the window and opt-in state at start (one observation per process, once restored), a histogram like wabridge_ledger_restore_seconds.", nil, nil)},
	)
}

// restoreBuckets are the buckets of the restore-time histograms (seconds).
var restoreBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// restoreHistogram exposes the window state's one restore as a histogram:
// count 0 until it is restored, then 1 with its duration.
type restoreHistogram struct {
	stats func() WindowStats
	desc  *prometheus.Desc
}

func (r restoreHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

func (r restoreHistogram) Collect(ch chan<- prometheus.Metric) {
	secs := r.stats().RestoreSeconds
	var count uint64
	buckets := make(map[float64]uint64, len(restoreBuckets))
	if secs > 0 {
		count = 1
	}
	for _, b := range restoreBuckets {
		if secs > 0 && secs <= b {
			buckets[b] = 1
		} else {
			buckets[b] = 0
		}
	}
	ch <- prometheus.MustNewConstHistogram(r.desc, count, secs, buckets)
}
