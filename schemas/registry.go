package schemas

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
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
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("schema registry CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("schema registry CA file " + cfg.CAFile + " holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	opts := []sr.ClientOpt{sr.URLs(cfg.URL), sr.HTTPClient(&http.Client{Timeout: cfg.Timeout, Transport: tr})}
	if cfg.User != "" {
		opts = append(opts, sr.BasicAuth(cfg.User, cfg.Password))
	}
	return sr.NewClient(opts...)
}
