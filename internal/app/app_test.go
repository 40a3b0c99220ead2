package app

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func validConfig() Config {
	return Config{
		Brokers:      []string{"127.0.0.1:9092"},
		RegistryURL:  "http://127.0.0.1:8081",
		APIBaseURL:   "http://127.0.0.1:8090",
		APIKey:       "key",
		WebhookPath:  "/webhook",
		WebhookToken: "token",
		Topics: Topics{
			Commands: "c", Results: "r", Messages: "m", Statuses: "s", DeadLetter: "d", Ledger: "l", WebhookEvents: "e",
			Partitions: 1, ReplicationFactor: 1,
		},
		Window: WindowConfig{WindowTopic: "w", OptinTopic: "o", WindowMode: "off"},
	}
}

func TestCheckCommandTopicOfItsOwn(t *testing.T) {
	valid := validConfig()
	if err := valid.Check(); err != nil {
		t.Fatalf("Check of a valid config = %v, want nil", err)
	}
	for name, set := range map[string]func(*Config){
		"results":      func(c *Config) { c.Topics.Results = c.Topics.Commands },
		"dead letters": func(c *Config) { c.Topics.DeadLetter = c.Topics.Commands },
		"send ledger":  func(c *Config) { c.Topics.Ledger = c.Topics.Commands },
		"messages":     func(c *Config) { c.Topics.Messages = c.Topics.Commands },
		"windows":      func(c *Config) { c.Window.WindowTopic = c.Topics.Commands },
		"opt-in":       func(c *Config) { c.Window.OptinTopic = c.Topics.Commands },
	} {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			set(&c)
			err := c.Check()
			if err == nil || !strings.Contains(err.Error(), name+` topic "c" is also the command topic`) {
				t.Fatalf("Check = %v, want the %s topic named as the command topic", err, name)
			}
		})
	}
}

// run refuses an inbound half that would accept forged webhooks, unless
// told to.
func TestCheckWebhookAuthentication(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Config)
		ok   bool
	}{
		{"none", func(c *Config) {}, false},
		{"none, outbound only", func(c *Config) { c.Only = "outbound" }, true},
		{"none, insecure", func(c *Config) { c.WebhookInsecure = true }, true},
		{"token", func(c *Config) { c.WebhookToken = "t" }, true},
		{"signature", func(c *Config) { c.Webhook.SignatureSecrets = []string{"s"} }, true},
		{"path secret", func(c *Config) { c.Webhook.PathSecret = "p" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			c.WebhookToken = ""
			tc.set(&c)
			err := c.Check()
			if tc.ok != (err == nil) {
				t.Fatalf("Check = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "--webhook-insecure") {
				t.Fatalf("Check = %v, want it to name --webhook-insecure", err)
			}
		})
	}
}

type readyStore bool

func (r readyStore) Ready() bool { return bool(r) }

// /readyz: 503 while restoring; 200 afterwards, saying when Kafka is
// unreachable rather than taking every instance out at once.
func TestReadyz(t *testing.T) {
	for _, tc := range []struct {
		restored, kafka, draining bool
		code                      int
		body                      string
	}{
		{false, true, false, http.StatusServiceUnavailable, "restoring"},
		{true, true, false, http.StatusOK, "ready\n"},
		{true, false, false, http.StatusOK, "kafka unreachable"},
		{true, true, true, http.StatusServiceUnavailable, "shutting down"},
		{false, false, true, http.StatusServiceUnavailable, "shutting down"},
	} {
		var ok, draining atomic.Bool
		ok.Store(tc.kafka)
		draining.Store(tc.draining)
		rec := httptest.NewRecorder()
		readyz(&ok, &draining, readyStore(tc.restored)).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("restored %v, kafka %v, draining %v: %d %q, want %d with %q", tc.restored, tc.kafka, tc.draining, rec.Code, rec.Body, tc.code, tc.body)
		}
	}
}

// The admin listener (with pprof streaming profiles) bounds every phase of
// a connection.
func TestAdminServerTimeouts(t *testing.T) {
	s := adminServer(http.NewServeMux())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Fatalf("admin server timeouts: header %s, read %s, write %s, idle %s; want all set", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
}
