package main

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/wabridge/wabridge/internal/kafkaio"
)

// KafkaFlags are a tool's Kafka settings: where the brokers are, and TLS
// and SASL (the same flags and variables as run's).
type KafkaFlags struct {
	Brokers            string `env:"KAFKA_BROKERS" default:"127.0.0.1:9092" help:"Kafka bootstrap brokers."`
	KafkaSecurityFlags `embed:""`
}

// conn checks the flags and returns how to reach Kafka. A bad setting is a
// usage error (exit 2) when a Kafka flag is on the command line, and
// configuration (exit 1) when the settings came from the environment alone.
func (f KafkaFlags) conn(g *Globals) (kafkaio.Conn, error) {
	brokers, err := kafkaio.ParseBrokers(f.Brokers)
	if err != nil {
		return kafkaio.Conn{}, kafkaSettingsError(g.Args, err)
	}
	sec, err := f.Security()
	if err != nil {
		return kafkaio.Conn{}, kafkaSettingsError(g.Args, err)
	}
	warnInsecure(g.Logger, sec)
	return kafkaio.Conn{Brokers: brokers, Security: sec, Logger: g.Logger}, nil
}

// kafkaSettingsError classifies err, a check of the Kafka settings that
// failed: usage (2) when args carry a Kafka flag (--brokers, --kafka-...),
// else configuration (1), naming the KAFKA_ variables set (never their
// values).
func kafkaSettingsError(args []string, err error) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if name, _, _ := strings.Cut(a, "="); name == "--brokers" || strings.HasPrefix(name, "--kafka-") {
			return usageError("%v", err)
		}
	}
	var set []string
	for _, kv := range os.Environ() {
		if name, v, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "KAFKA_") && v != "" {
			set = append(set, name)
		}
	}
	if len(set) == 0 {
		return &exitError{code: exitFailure, err: err}
	}
	slices.Sort(set)
	return &exitError{code: exitFailure, err: fmt.Errorf("%w (from the environment: %s)", err, strings.Join(set, ", "))}
}

// KafkaSecurityFlags are the TLS and SASL settings of every Kafka client of
// every command (run, dev against a real cluster, and each tool). The names
// follow the Java client's ssl.* and sasl.* settings.
type KafkaSecurityFlags struct {
	KafkaTLS                   bool   `name:"kafka-tls" env:"KAFKA_TLS" help:"Connect to Kafka with TLS (implied by any other --kafka-tls-* flag)."`
	KafkaTLSCAFile             string `name:"kafka-tls-ca-file" env:"KAFKA_TLS_CA_FILE" placeholder:"FILE" help:"PEM bundle of CA certificates to trust for Kafka, besides the system roots."`
	KafkaTLSCertFile           string `name:"kafka-tls-cert-file" env:"KAFKA_TLS_CERT_FILE" placeholder:"FILE" help:"PEM client certificate for mutual TLS (with --kafka-tls-key-file)."`
	KafkaTLSKeyFile            string `name:"kafka-tls-key-file" env:"KAFKA_TLS_KEY_FILE" placeholder:"FILE" help:"PEM private key of the client certificate."`
	KafkaTLSServerName         string `name:"kafka-tls-server-name" env:"KAFKA_TLS_SERVER_NAME" placeholder:"NAME" help:"Name to check in the brokers' certificates instead of the host dialed."`
	KafkaTLSInsecureSkipVerify bool   `name:"kafka-tls-insecure-skip-verify" env:"KAFKA_TLS_INSECURE_SKIP_VERIFY" help:"Accept any broker certificate. For tests only: anyone on the network path can read and change the traffic (a warning is logged)."`

	KafkaSASLMechanism string `name:"kafka-sasl-mechanism" env:"KAFKA_SASL_MECHANISM" enum:",PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER,AWS_MSK_IAM" default:"" help:"SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (client credentials) or AWS_MSK_IAM (AWS SDK default credentials). Empty: no SASL."`
	KafkaSASLUsername  string `name:"kafka-sasl-username" env:"KAFKA_SASL_USERNAME" help:"SASL user of PLAIN and SCRAM."`
	KafkaSASLPassword  string `name:"kafka-sasl-password" env:"KAFKA_SASL_PASSWORD" help:"SASL password of PLAIN and SCRAM (prefer the environment variable to the flag)."`

	KafkaOAuthTokenURL     string   `name:"kafka-sasl-oauth-token-url" env:"KAFKA_SASL_OAUTH_TOKEN_URL" placeholder:"URL" help:"OAUTHBEARER: the OAuth 2.0 token endpoint (client credentials grant)."`
	KafkaOAuthClientID     string   `name:"kafka-sasl-oauth-client-id" env:"KAFKA_SASL_OAUTH_CLIENT_ID" help:"OAUTHBEARER: client id."`
	KafkaOAuthClientSecret string   `name:"kafka-sasl-oauth-client-secret" env:"KAFKA_SASL_OAUTH_CLIENT_SECRET" help:"OAUTHBEARER: client secret (prefer the environment variable to the flag)."`
	KafkaOAuthScopes       []string `name:"kafka-sasl-oauth-scopes" env:"KAFKA_SASL_OAUTH_SCOPES" sep:"," help:"OAUTHBEARER: scopes to ask for."`
}

// Security returns the settings for kafkaio, checked.
func (f KafkaSecurityFlags) Security() (kafkaio.Security, error) {
	s := kafkaio.Security{
		TLS:                   f.KafkaTLS,
		TLSCAFile:             f.KafkaTLSCAFile,
		TLSCertFile:           f.KafkaTLSCertFile,
		TLSKeyFile:            f.KafkaTLSKeyFile,
		TLSServerName:         f.KafkaTLSServerName,
		TLSInsecureSkipVerify: f.KafkaTLSInsecureSkipVerify,
		SASLMechanism:         f.KafkaSASLMechanism,
		SASLUsername:          f.KafkaSASLUsername,
		SASLPassword:          f.KafkaSASLPassword,
		OAuthTokenURL:         f.KafkaOAuthTokenURL,
		OAuthClientID:         f.KafkaOAuthClientID,
		OAuthClientSecret:     f.KafkaOAuthClientSecret,
		OAuthScopes:           f.KafkaOAuthScopes,
	}
	return s, s.Validate()
}

// warnInsecure logs the loud warning --kafka-tls-insecure-skip-verify earns.
func warnInsecure(logger *slog.Logger, s kafkaio.Security) {
	if s.TLSInsecureSkipVerify {
		logger.Warn("KAFKA TLS CERTIFICATES ARE NOT VERIFIED (--kafka-tls-insecure-skip-verify): anyone on the network path can read and change what wabridge sends and receives; use --kafka-tls-ca-file instead")
	}
}
