package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/outbound"
)

// SendCmd produces one send command to the command topic.
type SendCmd struct {
	To        string `help:"Recipient phone number (with country code) for a text message."`
	Text      string `help:"Text of the message (with --to)."`
	JSON      string `name:"json" placeholder:"FILE" help:"Read the JSON body of POST /messages from FILE (- for stdin) instead of --to/--text."`
	CommandID string `help:"Command id (default: a random one). Results and statuses carry it."`
	Brokers   string `env:"KAFKA_BROKERS" default:"127.0.0.1:9092" help:"Kafka bootstrap brokers."`
	Topic     string `env:"WABRIDGE_TOPIC_COMMANDS" default:"wabridge.commands" help:"Command topic."`
}

// Run produces the command and prints its id.
func (c *SendCmd) Run(ctx context.Context, g *Globals) error {
	brokers, err := kafkaio.ParseBrokers(c.Brokers)
	if err != nil {
		return err
	}
	var body []byte
	switch {
	case c.JSON != "" && (c.To != "" || c.Text != ""):
		return errors.New("use either --json or --to/--text")
	case c.JSON == "-":
		body, err = io.ReadAll(os.Stdin)
	case c.JSON != "":
		body, err = os.ReadFile(c.JSON)
	case c.To != "" && c.Text != "":
		body, err = json.Marshal(map[string]any{"to": c.To, "type": "text", "text": map[string]string{"body": c.Text}})
	default:
		return errors.New("say what to send: --to and --text, or --json FILE")
	}
	if err != nil {
		return fmt.Errorf("reading command body: %w", err)
	}
	id := c.CommandID
	if id == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = "cli-" + hex.EncodeToString(b)
	}
	msg := kafka.Message{Topic: c.Topic, Value: body, Headers: []kafka.Header{{Key: outbound.HeaderCommandID, Value: []byte(id)}}}
	// Check the command as the bridge will, so a typo fails here, not later.
	if _, err := outbound.ParseCommand(msg); err != nil {
		return fmt.Errorf("command is invalid: %w", err)
	}
	var to struct {
		To        string `json:"to"`
		Recipient string `json:"recipient"`
	}
	_ = json.Unmarshal(body, &to)
	msg.Key = []byte(outbound.UserKey(to.To + to.Recipient))
	w := kafkaio.NewWriter(brokers, time.Millisecond, g.Logger)
	defer w.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msg); err != nil {
		return fmt.Errorf("producing command to %s at %v: %w", c.Topic, brokers, err)
	}
	fmt.Fprintln(g.Stdout, id)
	return nil
}
