// Package devstack starts the embedded default that `wabridge dev` runs on:
// an in-process Kafka broker (kfake, speaking the real wire protocol on a TCP
// port), an in-process schema registry (srfake) and the 360dialog stand-in.
package devstack

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/internal/d360/d360test"
)

// Kafka is an in-process broker.
type Kafka struct {
	cluster *kfake.Cluster
	Addr    string
}

// StartKafka listens on 127.0.0.1:port (0 picks a free port).
func StartKafka(port int) (*Kafka, error) {
	if port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DefaultNumPartitions(3),
		kfake.GroupMinSessionTimeout(time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka on 127.0.0.1:%d: %w", port, err)
	}
	return &Kafka{cluster: c, Addr: c.ListenAddrs()[0]}, nil
}

// Close stops the broker.
func (k *Kafka) Close() { k.cluster.Close() }

// HTTP is a handler served on a local port.
type HTTP struct {
	srv *http.Server
	URL string
}

// Serve serves h on 127.0.0.1:port (0 picks a free port) until Close.
func Serve(name string, port int, h http.Handler, log *slog.Logger) (*HTTP, error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("embedded %s on 127.0.0.1:%d: %w", name, port, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("embedded server stopped", "server", name, "err", err)
		}
	}()
	return &HTTP{srv: srv, URL: "http://" + ln.Addr().String()}, nil
}

// Close stops serving.
func (h *HTTP) Close() { h.srv.Close() }

// Registry serves an in-memory schema registry.
func Registry(port int, log *slog.Logger) (*HTTP, error) {
	return Serve("schema registry", port, srfake.NewRegistry().Handler(), log)
}

// StandIn serves the 360dialog stand-in; close the returned server first,
// then the stand-in itself.
func StandIn(port int, cfg d360test.Config) (*d360test.Server, *HTTP, error) {
	s := d360test.New(cfg)
	h, err := Serve("360dialog stand-in", port, s, cfg.Logger)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, h, nil
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port on 127.0.0.1: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
