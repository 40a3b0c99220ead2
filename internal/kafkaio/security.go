package kafkaio

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/segmentio/kafka-go"
	kafkagosasl "github.com/segmentio/kafka-go/sasl"
	kafkagoplain "github.com/segmentio/kafka-go/sasl/plain"
	kafkagoscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	saslaws "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// SASL mechanism names, as Kafka's sasl.mechanism setting spells them.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
	SASLOAuthBearer = "OAUTHBEARER"
	SASLAWSMSKIAM   = "AWS_MSK_IAM"
)

// SASLMechanisms lists the mechanisms Security accepts.
var SASLMechanisms = []string{SASLPlain, SASLScramSHA256, SASLScramSHA512, SASLOAuthBearer, SASLAWSMSKIAM}

// Security is how every Kafka client of wabridge encrypts and authenticates:
// the equivalent of the Java client's security.protocol, ssl.* and sasl.*
// settings. The zero value is a plaintext connection without SASL.
//
// The mechanisms are the client libraries' own: franz-go's pkg/sasl/plain,
// scram, oauth and aws for kgo clients; kafka-go's sasl/plain and sasl/scram
// for kafka-go, which has no OAUTHBEARER or AWS_MSK_IAM of its own and so
// drives franz-go's implementation of those two through an adapter.
type Security struct {
	// TLS turns TLS on. A CA file, a client certificate, a server name or
	// InsecureSkipVerify imply it.
	TLS bool
	// TLSCAFile is a PEM bundle trusted besides the system roots.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are a PEM client certificate and key (mTLS).
	TLSCertFile, TLSKeyFile string
	// TLSServerName overrides the name checked in the broker's certificate.
	TLSServerName string
	// TLSInsecureSkipVerify accepts any broker certificate. For tests only:
	// anyone on the path can read and change the traffic.
	TLSInsecureSkipVerify bool

	// SASLMechanism is one of SASLMechanisms, or empty for no SASL.
	SASLMechanism string
	// SASLUsername and SASLPassword are the PLAIN and SCRAM credentials.
	SASLUsername, SASLPassword string
	// OAuthTokenURL, OAuthClientID, OAuthClientSecret and OAuthScopes get
	// OAUTHBEARER tokens with the OAuth 2.0 client credentials grant
	// (RFC 6749 §4.4); tokens are cached until shortly before they expire.
	OAuthTokenURL, OAuthClientID, OAuthClientSecret string
	OAuthScopes                                     []string
	// AWS_MSK_IAM takes its credentials from the AWS SDK's default chain:
	// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a shared profile, web
	// identity (EKS IRSA), ECS and EC2 instance roles.
}

// TLSEnabled tells whether connections use TLS.
func (s Security) TLSEnabled() bool {
	return s.TLS || s.TLSCAFile != "" || s.TLSCertFile != "" || s.TLSKeyFile != "" ||
		s.TLSServerName != "" || s.TLSInsecureSkipVerify
}

// Validate checks the settings without touching the network or the files'
// contents; Options and KafkaGoTransport read the files.
func (s Security) Validate() error {
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		return errors.New("kafka TLS: a client certificate needs both a certificate file and a key file")
	}
	if s.TLSInsecureSkipVerify && s.TLSCAFile != "" {
		return errors.New("kafka TLS: a CA file and insecure-skip-verify contradict each other: give one")
	}
	m := s.SASLMechanism
	switch m {
	case "":
		if s.SASLUsername != "" || s.SASLPassword != "" || s.OAuthTokenURL != "" {
			return errors.New("kafka SASL: credentials are set but no SASL mechanism is")
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if s.SASLUsername == "" || s.SASLPassword == "" {
			return fmt.Errorf("kafka SASL %s needs a username and a password", m)
		}
	case SASLOAuthBearer:
		if s.OAuthTokenURL == "" || s.OAuthClientID == "" || s.OAuthClientSecret == "" {
			return fmt.Errorf("kafka SASL %s needs a token URL, a client id and a client secret", m)
		}
		if !strings.HasPrefix(s.OAuthTokenURL, "https://") && !strings.HasPrefix(s.OAuthTokenURL, "http://") {
			return fmt.Errorf("kafka SASL %s: token URL %q is not an http(s) URL", m, s.OAuthTokenURL)
		}
	case SASLAWSMSKIAM:
		if !s.TLSEnabled() {
			return fmt.Errorf("kafka SASL %s needs TLS (MSK's IAM listener is TLS only)", m)
		}
	default:
		return fmt.Errorf("kafka SASL mechanism %q: want one of %s", m, strings.Join(SASLMechanisms, ", "))
	}
	return nil
}

// LogValue describes the settings for logs without any secret.
func (s Security) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Bool("tls", s.TLSEnabled())}
	if s.TLSCAFile != "" {
		attrs = append(attrs, slog.String("ca_file", s.TLSCAFile))
	}
	if s.TLSCertFile != "" {
		attrs = append(attrs, slog.String("cert_file", s.TLSCertFile))
	}
	if s.TLSInsecureSkipVerify {
		attrs = append(attrs, slog.Bool("insecure_skip_verify", true))
	}
	if s.SASLMechanism != "" {
		attrs = append(attrs, slog.String("sasl", s.SASLMechanism))
	}
	if s.SASLUsername != "" {
		attrs = append(attrs, slog.String("user", s.SASLUsername))
	}
	if s.OAuthClientID != "" {
		attrs = append(attrs, slog.String("client_id", s.OAuthClientID), slog.String("token_url", s.OAuthTokenURL))
	}
	return slog.GroupValue(attrs...)
}

// TLSConfig returns the TLS configuration, or nil when TLS is off.
func (s Security) TLSConfig() (*tls.Config, error) {
	if !s.TLSEnabled() {
		return nil, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         s.TLSServerName,
		InsecureSkipVerify: s.TLSInsecureSkipVerify, //nolint:gosec // an explicit, logged opt-in
	}
	if s.TLSCAFile != "" {
		pem, err := os.ReadFile(s.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka TLS CA file %s: no PEM certificate in it", s.TLSCAFile)
		}
		cfg.RootCAs = pool
	}
	if s.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.TLSCertFile, s.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS client certificate %s / key %s: %w", s.TLSCertFile, s.TLSKeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Options returns the franz-go options that apply the settings to a kgo
// client: TLS dialing and the SASL mechanism.
func (s Security) Options() ([]kgo.Opt, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	tlsCfg, err := s.TLSConfig()
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		opts = append(opts, kgo.DialTLSConfig(tlsCfg))
	}
	mech, err := s.mechanism()
	if err != nil {
		return nil, err
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// ApplyKafkaGo sets TLS and SASL on a kafka-go transport.
func (s Security) ApplyKafkaGo(t *kafka.Transport) error {
	if err := s.Validate(); err != nil {
		return err
	}
	tlsCfg, err := s.TLSConfig()
	if err != nil {
		return err
	}
	t.TLS = tlsCfg
	switch s.SASLMechanism {
	case "":
		t.SASL = nil
	case SASLPlain:
		t.SASL = kafkagoplain.Mechanism{Username: s.SASLUsername, Password: s.SASLPassword}
	case SASLScramSHA256, SASLScramSHA512:
		algo := kafkagoscram.SHA256
		if s.SASLMechanism == SASLScramSHA512 {
			algo = kafkagoscram.SHA512
		}
		m, err := kafkagoscram.Mechanism(algo, s.SASLUsername, s.SASLPassword)
		if err != nil {
			return fmt.Errorf("kafka SASL %s: %w", s.SASLMechanism, err)
		}
		t.SASL = m
	default:
		mech, err := s.mechanism()
		if err != nil {
			return err
		}
		t.SASL = kafkaGoMechanism{mech}
	}
	return nil
}

// mechanism returns franz-go's implementation of the SASL mechanism, or nil
// without SASL.
func (s Security) mechanism() (sasl.Mechanism, error) {
	switch s.SASLMechanism {
	case "":
		return nil, nil
	case SASLPlain:
		return plain.Auth{User: s.SASLUsername, Pass: s.SASLPassword}.AsMechanism(), nil
	case SASLScramSHA256:
		return scram.Auth{User: s.SASLUsername, Pass: s.SASLPassword}.AsSha256Mechanism(), nil
	case SASLScramSHA512:
		return scram.Auth{User: s.SASLUsername, Pass: s.SASLPassword}.AsSha512Mechanism(), nil
	case SASLOAuthBearer:
		src := (&clientcredentials.Config{
			ClientID: s.OAuthClientID, ClientSecret: s.OAuthClientSecret,
			TokenURL: s.OAuthTokenURL, Scopes: s.OAuthScopes,
		}).TokenSource(context.Background())
		return oauthMechanism(src), nil
	case SASLAWSMSKIAM:
		return mskIAMMechanism(), nil
	}
	return nil, fmt.Errorf("kafka SASL mechanism %q: want one of %s", s.SASLMechanism, strings.Join(SASLMechanisms, ", "))
}

// oauthMechanism is OAUTHBEARER with tokens from src, which caches them.
func oauthMechanism(src oauth2.TokenSource) sasl.Mechanism {
	return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		tok, err := src.Token()
		if err != nil {
			return oauth.Auth{}, fmt.Errorf("kafka SASL OAUTHBEARER: getting a token: %w", err)
		}
		return oauth.Auth{Token: tok.AccessToken}, nil
	})
}

// mskIAMMechanism is AWS_MSK_IAM with credentials from the AWS SDK's default
// chain, loaded once and refreshed by the SDK's credentials cache.
func mskIAMMechanism() sasl.Mechanism {
	var (
		once  sync.Once
		creds aws.CredentialsProvider
		err   error
	)
	return saslaws.ManagedStreamingIAM(func(ctx context.Context) (saslaws.Auth, error) {
		once.Do(func() {
			var cfg aws.Config
			cfg, err = awsconfig.LoadDefaultConfig(ctx)
			creds = cfg.Credentials
		})
		if err != nil {
			return saslaws.Auth{}, fmt.Errorf("kafka SASL AWS_MSK_IAM: loading AWS configuration: %w", err)
		}
		if creds == nil {
			return saslaws.Auth{}, errors.New("kafka SASL AWS_MSK_IAM: no AWS credentials found (environment, profile, web identity or instance role)")
		}
		c, err := creds.Retrieve(ctx)
		if err != nil {
			return saslaws.Auth{}, fmt.Errorf("kafka SASL AWS_MSK_IAM: AWS credentials: %w", err)
		}
		return saslaws.Auth{AccessKey: c.AccessKeyID, SecretKey: c.SecretAccessKey, SessionToken: c.SessionToken}, nil
	})
}

// kafkaGoMechanism lets kafka-go drive a franz-go SASL mechanism: kafka-go
// passes the broker's host in the context (sasl.MetadataFromContext), which
// AWS_MSK_IAM signs.
type kafkaGoMechanism struct{ m sasl.Mechanism }

func (k kafkaGoMechanism) Name() string { return k.m.Name() }

func (k kafkaGoMechanism) Start(ctx context.Context) (kafkagosasl.StateMachine, []byte, error) {
	host := ""
	if md := kafkagosasl.MetadataFromContext(ctx); md != nil {
		host = md.Host
	}
	sess, first, err := k.m.Authenticate(ctx, host)
	if err != nil {
		return nil, nil, err
	}
	return kafkaGoSession{sess}, first, nil
}

type kafkaGoSession struct{ s sasl.Session }

func (k kafkaGoSession) Next(_ context.Context, challenge []byte) (bool, []byte, error) {
	return k.s.Challenge(challenge)
}
