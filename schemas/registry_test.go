package schemas_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/wabridge/wabridge/schemas"
)

func TestNewRegistryClientRejectsBadInput(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	for _, tc := range []struct {
		cfg  schemas.RegistryConfig
		want string
	}{
		{schemas.RegistryConfig{URL: "registry:8081"}, "absolute http or https URL"},
		{schemas.RegistryConfig{URL: "ftp://registry"}, "absolute http or https URL"},
		{schemas.RegistryConfig{URL: "https://registry", CAFile: "/nonexistent/ca.pem"}, "CA file"},
		{schemas.RegistryConfig{URL: "https://registry", CAFile: notPEM}, "no PEM certificate"},
	} {
		_, err := schemas.NewRegistryClient(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := schemas.NewRegistryClient(schemas.RegistryConfig{URL: "https://registry.example:8081", User: "u", Password: "p"}); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestDecoderTellsAnUnknownIDFromAnUnavailableRegistry(t *testing.T) {
	framed := []byte{0, 0, 0, 3, 231, 2} // schema id 999, then a byte of Avro
	ctx := context.Background()

	reg := srfake.New()
	t.Cleanup(reg.Close)
	client, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = schemas.NewDecoder(client).Decode(ctx, framed)
	if err == nil || errors.Is(err, schemas.ErrRegistryUnavailable) || !strings.Contains(err.Error(), "not registered") {
		t.Errorf("unknown schema id: error %v, want \"not registered\" and not ErrRegistryUnavailable", err)
	}

	// A 404 without the registry's error code (a proxy, a wrong path) says
	// nothing about the id.
	proxy := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(proxy.Close)
	client, err = sr.NewClient(sr.URLs(proxy.URL))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = schemas.NewDecoder(client).Decode(ctx, framed)
	if !errors.Is(err, schemas.ErrRegistryUnavailable) {
		t.Errorf("404 from a proxy: error %v, want ErrRegistryUnavailable", err)
	}
}
