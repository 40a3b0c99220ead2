package schemas_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
