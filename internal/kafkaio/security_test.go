package kafkaio

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestSecurityValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Security
		want string // substring of the error; empty: valid
	}{
		{"plaintext", Security{}, ""},
		{"tls only", Security{TLS: true}, ""},
		{"ca implies tls", Security{TLSCAFile: "ca.pem"}, ""},
		{"scram", Security{SASLMechanism: SASLScramSHA512, SASLUsername: "u", SASLPassword: "p"}, ""},
		{"plain without password", Security{SASLMechanism: SASLPlain, SASLUsername: "u"}, "needs a username and a password"},
		{"scram without user", Security{SASLMechanism: SASLScramSHA256, SASLPassword: "p"}, "needs a username and a password"},
		{"lower-case mechanism", Security{SASLMechanism: "scram-sha-256", SASLUsername: "u", SASLPassword: "p"}, `mechanism "scram-sha-256": want one of`},
		{"unknown mechanism", Security{SASLMechanism: "GSSAPI"}, "want one of PLAIN, SCRAM-SHA-256"},
		{"credentials without mechanism", Security{SASLUsername: "u", SASLPassword: "p"}, "no SASL mechanism"},
		{"cert without key", Security{TLSCertFile: "c.pem"}, "both a certificate file and a key file"},
		{"key without cert", Security{TLSKeyFile: "k.pem"}, "both a certificate file and a key file"},
		{"ca and skip verify", Security{TLSCAFile: "ca.pem", TLSInsecureSkipVerify: true}, "contradict"},
		{"oauth", Security{SASLMechanism: SASLOAuthBearer, OAuthTokenURL: "https://idp/token", OAuthClientID: "id", OAuthClientSecret: "s"}, ""},
		{"oauth without secret", Security{SASLMechanism: SASLOAuthBearer, OAuthTokenURL: "https://idp/token", OAuthClientID: "id"}, "token URL, a client id and a client secret"},
		{"oauth bad url", Security{SASLMechanism: SASLOAuthBearer, OAuthTokenURL: "idp/token", OAuthClientID: "id", OAuthClientSecret: "s"}, "not an http(s) URL"},
		{"msk iam with tls", Security{TLS: true, SASLMechanism: SASLAWSMSKIAM}, ""},
		{"msk iam without tls", Security{SASLMechanism: SASLAWSMSKIAM}, "needs TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestSecurityLogValueHasNoSecret(t *testing.T) {
	s := Security{
		TLSCAFile: "/ca.pem", SASLMechanism: SASLScramSHA256, SASLUsername: "alice", SASLPassword: "pw-secret-1",
		OAuthClientID: "client", OAuthClientSecret: "oauth-secret-2", OAuthTokenURL: "https://idp/token",
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("kafka", "security", s)
	out := b.String()
	for _, secret := range []string{"pw-secret-1", "oauth-secret-2"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log line carries a secret: %s", out)
		}
	}
	for _, want := range []string{`"sasl":"SCRAM-SHA-256"`, `"user":"alice"`, `"tls":true`} {
		if !strings.Contains(out, want) {
			t.Fatalf("log line %s lacks %s", out, want)
		}
	}
}

func TestSecurityTLSConfigFiles(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, ca.certPEM)
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	cert, key := ca.issue(t, "client")
	writeFile(t, certFile, cert)
	writeFile(t, keyFile, key)
	notPEM := filepath.Join(dir, "not.pem")
	writeFile(t, notPEM, []byte("hello"))

	cfg, err := Security{TLSCAFile: caFile, TLSCertFile: certFile, TLSKeyFile: keyFile, TLSServerName: "kafka.internal"}.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.ServerName != "kafka.internal" || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("TLS config = %+v", cfg)
	}
	if cfg, err := (Security{}).TLSConfig(); cfg != nil || err != nil {
		t.Fatalf("plaintext TLSConfig() = %v, %v; want nil, nil", cfg, err)
	}
	for name, s := range map[string]Security{
		"missing CA":  {TLSCAFile: filepath.Join(dir, "nope.pem")},
		"CA not PEM":  {TLSCAFile: notPEM},
		"bad keypair": {TLSCertFile: certFile, TLSKeyFile: notPEM},
	} {
		if _, err := s.TLSConfig(); err == nil {
			t.Errorf("%s: TLSConfig() = nil error", name)
		}
	}
}

// TestSecurityKfake connects both clients through TLS and SCRAM to an
// in-process cluster that requires them, and checks that each way of getting
// it wrong fails.
func TestSecurityKfake(t *testing.T) {
	ca := newTestCA(t)
	certPEM, keyPEM := ca.issue(t, "127.0.0.1")
	serverCert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	const user, pass = "bridge", "s3cret-pass"
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.EnableSASL(),
		kfake.Superuser(SASLScramSHA256, user, pass),
		kfake.Superuser(SASLPlain, user, pass),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}),
		kfake.SeedTopics(1, "secured"),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, caFile, ca.certPEM)

	good := Security{TLSCAFile: caFile, SASLMechanism: SASLScramSHA256, SASLUsername: user, SASLPassword: pass}
	checkSecured(t, c.ListenAddrs(), "secured", good)

	plainMech := good
	plainMech.SASLMechanism = SASLPlain
	if err := ping(c.ListenAddrs(), plainMech); err != nil {
		t.Fatalf("PLAIN: %v", err)
	}

	// kfake hangs up on a failed authentication instead of answering, and
	// on a plaintext client.
	checkMistakes(t, c.ListenAddrs(), caFile, user, pass, "", "certificate", "")
}

// TestSecurityRealBroker runs against the SASL_SSL listener of
// `KAFKA_SECURE=1 deploy/local-kafka.sh up` (skipped without it): every
// mechanism the broker offers, through kgo and kafka-go, and the three
// mistakes a user makes.
func TestSecurityRealBroker(t *testing.T) {
	addr, caFile := os.Getenv("KAFKA_SECURE_BROKERS"), os.Getenv("KAFKA_SECURE_CA_FILE")
	user, pass := os.Getenv("KAFKA_SECURE_USER"), os.Getenv("KAFKA_SECURE_PASSWORD")
	if addr == "" {
		t.Skip("KAFKA_SECURE_BROKERS not set (start a broker with KAFKA_SECURE=1 deploy/local-kafka.sh up)")
	}
	brokers := []string{addr}
	for _, m := range []string{SASLScramSHA256, SASLScramSHA512, SASLPlain} {
		t.Run(m, func(t *testing.T) {
			s := Security{TLSCAFile: caFile, SASLMechanism: m, SASLUsername: user, SASLPassword: pass}
			topic := fmt.Sprintf("wabridge-security-%s-%d", strings.ToLower(m), time.Now().UnixNano())
			opts, err := s.Options()
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(brokers...))...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cl.Close)
			adm := kadm.NewClient(cl)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := EnsureTopics(ctx, adm, []Topic{{Name: topic, Partitions: 1, ReplicationFactor: -1}}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic) })
			checkSecured(t, brokers, topic, s)
		})
	}
	checkMistakes(t, brokers, caFile, user, pass,
		"SASL_AUTHENTICATION_FAILED", "certificate signed by unknown authority", "tls")
}

// checkMistakes checks that a wrong password, a broker certificate the client
// does not trust and a plaintext client each fail, with an error containing
// the given text.
func checkMistakes(t *testing.T, brokers []string, caFile, user, pass, wrongPassword, untrusted, plaintext string) {
	t.Helper()
	for _, tc := range []struct {
		name string
		s    Security
		want string
	}{
		{"wrong password", Security{TLSCAFile: caFile, SASLMechanism: SASLScramSHA256, SASLUsername: user, SASLPassword: "wrong"}, wrongPassword},
		{"untrusted CA", Security{TLS: true, SASLMechanism: SASLScramSHA256, SASLUsername: user, SASLPassword: pass}, untrusted},
		{"plaintext", Security{SASLMechanism: SASLScramSHA256, SASLUsername: user, SASLPassword: pass}, plaintext},
	} {
		err := ping(brokers, tc.s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ping = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestSecurityOAuthBearer gets a token from a client-credentials endpoint and
// presents it with OAUTHBEARER to the real broker's secured listener, whose
// validator accepts unsigned tokens (see deploy/local-kafka.sh).
func TestSecurityOAuthBearer(t *testing.T) {
	addr, caFile := os.Getenv("KAFKA_SECURE_BROKERS"), os.Getenv("KAFKA_SECURE_CA_FILE")
	if addr == "" {
		t.Skip("KAFKA_SECURE_BROKERS not set (start a broker with KAFKA_SECURE=1 deploy/local-kafka.sh up)")
	}
	var calls int
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			http.Error(w, "want a client_credentials grant", http.StatusBadRequest)
			return
		}
		id, secret, ok := r.BasicAuth()
		if !ok || id != "wabridge" || secret != "client-secret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": unsignedJWT(id, time.Hour), "token_type": "Bearer", "expires_in": 3600,
		})
	}))
	t.Cleanup(idp.Close)

	s := Security{
		TLSCAFile: caFile, SASLMechanism: SASLOAuthBearer,
		OAuthTokenURL: idp.URL, OAuthClientID: "wabridge", OAuthClientSecret: "client-secret",
	}
	if err := ping([]string{addr}, s); err != nil {
		t.Fatalf("OAUTHBEARER: %v", err)
	}
	if calls == 0 {
		t.Fatal("the token endpoint was never called")
	}
	s.OAuthClientSecret = "wrong"
	if err := ping([]string{addr}, s); err == nil || !strings.Contains(err.Error(), "getting a token") {
		t.Fatalf("OAUTHBEARER with a wrong client secret: %v, want a token error", err)
	}
}

// checkSecured writes a record with kafka-go and reads it back with kgo, both
// configured by s.
func checkSecured(t *testing.T, brokers []string, topic string, s Security) {
	t.Helper()
	tr := &kafka.Transport{DialTimeout: 5 * time.Second}
	if err := s.ApplyKafkaGo(tr); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Transport: tr, RequiredAcks: kafka.RequireAll}
	t.Cleanup(func() { _ = w.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte("through " + s.SASLMechanism)}); err != nil {
		t.Fatalf("kafka-go write through %s: %v", s.SASLMechanism, err)
	}
	opts, err := s.Options()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if errs := fs.Errors(); len(errs) > 0 && ctx.Err() == nil {
			t.Fatalf("kgo fetch through %s: %v", s.SASLMechanism, errs[0].Err)
		}
		if recs := fs.Records(); len(recs) > 0 {
			if got := string(recs[0].Value); got != "through "+s.SASLMechanism {
				t.Fatalf("read %q", got)
			}
			return
		}
	}
	t.Fatalf("kgo read nothing through %s: %v", s.SASLMechanism, ctx.Err())
}

// ping connects a kgo client configured by s and asks for metadata.
func ping(brokers []string, s Security) error {
	opts, err := s.Options()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(brokers...), kgo.RequestRetries(0))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

// unsignedJWT is a token Kafka's unsecured OAUTHBEARER validator accepts
// (RFC 7515 with alg "none", RFC 7519 claims sub, iat and exp).
func unsignedJWT(sub string, ttl time.Duration) string {
	enc := base64.RawURLEncoding.EncodeToString
	now := time.Now()
	head, _ := json.Marshal(map[string]string{"alg": "none"})
	claims, _ := json.Marshal(map[string]any{"sub": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix()})
	return enc(head) + "." + enc(claims) + "."
}

type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wabridge test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for name (an IP address or a DNS
// name) signed by the CA.
func (ca testCA) issue(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
