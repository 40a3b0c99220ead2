package schemas

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/wabridge/wabridge/internal/d360"
)

// RegistryConfig says how to reach a Confluent-compatible schema registry.
type RegistryConfig struct {
	URL string
	// User and Password for basic auth; empty: none.
	User, Password string
	// CAFile is a PEM bundle to trust for an https registry, in addition to
	// the system roots; empty: the system roots.
	CAFile string
	// Timeout of one request. Default: 10s.
	Timeout time.Duration
}

// NewRegistryClient checks cfg and returns a registry client.
func NewRegistryClient(cfg RegistryConfig) (*sr.Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("schema registry URL %q: want an absolute http or https URL", cfg.URL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	pool, err := d360.RootCAs(cfg.CAFile) // the same reading of a CA file as the API's
	if err != nil {
		return nil, fmt.Errorf("schema registry %w", err)
	}
	if pool != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	opts := []sr.ClientOpt{sr.URLs(cfg.URL), sr.HTTPClient(&http.Client{Timeout: cfg.Timeout, Transport: tr})}
	if cfg.User != "" {
		opts = append(opts, sr.BasicAuth(cfg.User, cfg.Password))
	}
	return sr.NewClient(opts...)
}
