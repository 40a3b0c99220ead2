package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/campaign"
	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/follow"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/render"
	"github.com/wabridge/wabridge/outbound"
)

// SendCmd produces one send command to the command topic.
type SendCmd struct {
	To             string        `help:"Recipient: a phone number with country code, or a business-scoped user id such as US.13491208655302741918."`
	Text           string        `help:"Text of a text message (with --to)."`
	Template       string        `placeholder:"NAME" help:"Send the approved template NAME (with --to and --language)."`
	Language       string        `placeholder:"CODE" help:"Language code of the template, e.g. en_US."`
	Params         []string      `name:"param" sep:"none" placeholder:"[SLOT=]VALUE" help:"A template parameter, repeatable: VALUE alone fills the next body parameter; SLOT=VALUE fills body.N, body.NAME (named), header, or button.N (index from 0); add :TYPE to the slot for currency, date_time, image, video, document, location, payload, url or coupon_code."`
	JSON           string        `name:"json" placeholder:"FILE" help:"Read the JSON body of POST /messages from FILE (- for stdin) instead of --to/--text/--template."`
	CommandID      string        `help:"Command id (default: a random one). Results and statuses carry it."`
	BusinessNumber string        `placeholder:"NUMBER" help:"Business number whose API key sends it (business-number header; see D360_API_KEYS of run)."`
	ExpiresIn      time.Duration `placeholder:"DURATION" help:"Have the bridge reject the command instead of sending it later than this from now (expires-at header)."`
	Wait           bool          `help:"Follow the results topic and print the command's outcome; the exit code says it: 0 accepted, 1 rejected, failed or no result within --timeout."`
	Timeout        time.Duration `default:"60s" help:"With --wait: how long to wait for the result."`
	Output         string        `short:"o" default:"text" enum:"text,json" help:"With --wait: text or json (the result event, as tail prints values)."`
	outputFlags    `embed:""`

	KafkaFlags    `embed:""`
	Topic         string `env:"WABRIDGE_TOPIC_COMMANDS" default:"wabridge.commands" help:"Command topic."`
	ResultsTopic  string `env:"WABRIDGE_TOPIC_RESULTS" default:"wabridge.results" help:"Results topic (--wait)."`
	registryFlags `embed:""`
	API           APIFlags `embed:"" help:"With D360_API_KEY set, a template send is checked against the account's template catalogue first."`

	cat    *catalog.Catalog // loaded once per run
	catErr error
}

// Help is shown by --help.
func (c *SendCmd) Help() string {
	return `Builds one send command, checks it as the bridge will (and, with D360_API_KEY set, a template against the account's catalogue), produces it to the command topic keyed by the recipient, and prints its command id. With --wait it then prints the outcome.

Examples:

    wabridge send --to 15550001111 --text "Hello from wabridge"
    wabridge send --to 15550001111 --template order_update --language en_US \
        --param header=42 --param Jane --param "on its way" --param button.0=42 --wait
    wabridge send --to 15550001111 --template welcome --language en --param body.first_name=Jane
    wabridge send --to 15550001111 --template promo --language en \
        --param header=https://example.com/banner.jpg --param "body.1:currency=USD 19.99"
    echo '{"to":"15550001111","type":"text","text":{"body":"hi"}}' | wabridge send --json - --wait -o json`
}

// Run produces the command and prints its id (and, with --wait, its outcome).
func (c *SendCmd) Run(ctx context.Context, g *Globals) error {
	conn, err := c.conn(g)
	if err != nil {
		return err
	}
	if c.ExpiresIn < 0 {
		return usageError("--expires-in %s: want a positive duration", c.ExpiresIn)
	}
	if c.Wait && c.Timeout <= 0 {
		return usageError("--timeout %s: want a positive duration", c.Timeout)
	}
	if (c.Pretty || c.Fields != "") && (!c.Wait || c.Output != "json") {
		return usageError("--pretty and --fields go with --wait -o json")
	}
	body, err := c.body(ctx, g)
	if err != nil {
		return err
	}
	id := c.CommandID
	if id == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = "cli-" + hex.EncodeToString(b)
	}
	headers := []kgo.RecordHeader{{Key: outbound.HeaderCommandID, Value: []byte(id)}}
	if c.BusinessNumber != "" {
		headers = append(headers, kgo.RecordHeader{Key: outbound.HeaderBusinessNumber, Value: []byte(c.BusinessNumber)})
	}
	if c.ExpiresIn > 0 {
		headers = append(headers, kgo.RecordHeader{Key: outbound.HeaderExpiresAt, Value: []byte(time.Now().Add(c.ExpiresIn).UTC().Format(time.RFC3339))})
	}
	// Check the command as the bridge will, so a typo fails here, not later.
	cmd, err := outbound.ParseCommand(&kgo.Record{Topic: c.Topic, Value: body, Headers: headers})
	if err != nil {
		return usageError("command is invalid: %v", err)
	}
	if err := c.checkTemplate(ctx, g, cmd.Body); err != nil {
		return err
	}

	var results *follow.Follower
	var dec *render.Decoder
	var out *render.Printer
	if c.Wait {
		if out, err = c.printer(g.Stdout); err != nil {
			return err
		}
		if dec, err = c.decoder(); err != nil {
			return err
		}
		// Start before producing: the result may come at once.
		results, err = follow.Open(ctx, follow.Config{Conn: conn, Topics: []string{c.ResultsTopic}, Start: follow.End()})
		if err != nil {
			return fmt.Errorf("results topic: %w", err)
		}
		defer results.Close()
	}
	prod, err := newCommandProducer(ctx, conn, c.Topic)
	if err != nil {
		return err
	}
	defer prod.Close()
	rec := &kgo.Record{Topic: c.Topic, Key: []byte(outbound.UserKey(cmd.To)), Value: body, Headers: headers}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = prod.ProduceSync(pctx, rec).FirstErr()
	cancel()
	if err != nil {
		return fmt.Errorf("producing command to %s at %v: %w", c.Topic, conn.Brokers, err)
	}
	if !c.Wait {
		fmt.Fprintln(g.Stdout, id)
		return nil
	}
	if c.Output == "text" {
		fmt.Fprintln(g.Stderr, "command", id, "produced; waiting for its result")
	}
	wctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	res, err := results.NextResult(wctx, dec, func(cid string) bool { return cid == id })
	if err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			return &exitError{code: exitFailure, err: fmt.Errorf("no result for command %s on %s within %s (is the outbound half running?)", id, c.ResultsTopic, c.Timeout)}
		}
		return err
	}
	if c.Output == "json" {
		if err := out.Print(res.Value); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
	} else {
		fmt.Fprintln(g.Stdout, res.String())
	}
	if res.Outcome != "accepted" {
		return &exitError{code: exitFailure, err: fmt.Errorf("command %s %s", id, res.Outcome)}
	}
	return nil
}

// body builds the command body from the flags.
func (c *SendCmd) body(ctx context.Context, g *Globals) ([]byte, error) {
	modes := 0
	for _, set := range []bool{c.JSON != "", c.Text != "", c.Template != ""} {
		if set {
			modes++
		}
	}
	switch {
	case modes > 1:
		return nil, usageError("use one of --json, --text or --template")
	case modes == 0:
		return nil, usageError("say what to send: --to with --text or --template, or --json FILE")
	case c.JSON != "" && c.To != "":
		return nil, usageError("--to goes in the JSON body with --json")
	case c.JSON == "" && c.To == "":
		return nil, usageError("--to is required with --text and --template")
	case len(c.Params) > 0 && c.Template == "":
		return nil, usageError("--param goes with --template")
	case c.Language != "" && c.Template == "":
		return nil, usageError("--language goes with --template")
	}
	var body []byte
	var err error
	switch {
	case c.JSON == "-":
		body, err = io.ReadAll(io.LimitReader(os.Stdin, outbound.MaxCommandBytes+1))
	case c.JSON != "":
		body, err = os.ReadFile(c.JSON)
	case c.Text != "":
		to := "to"
		if d360.IsBSUID(c.To) {
			to = "recipient"
		}
		body, err = json.Marshal(map[string]any{to: c.To, "type": "text", "text": map[string]string{"body": c.Text}})
	default:
		if c.Language == "" {
			return nil, usageError("--language is required with --template (e.g. en_US)")
		}
		var spec *d360.TemplateParams
		if t, ok := c.catalogTemplate(ctx, g); ok {
			p := t.Params()
			spec = &p
		}
		shape, values, err := campaign.ParseSendParams(c.Params, spec)
		if err != nil {
			return nil, usageError("%v", err)
		}
		body, err = shape.Command(c.Template, c.Language, c.To, func(i int) string { return values[i] })
		if err != nil {
			return nil, usageError("%v", err)
		}
		return body, nil
	}
	if err != nil {
		return nil, usageError("reading command body: %v", err)
	}
	return body, nil
}

// catalog loads the template catalogue once; nil without an API key or
// when the API does not answer (a warning says so).
func (c *SendCmd) catalog(ctx context.Context, g *Globals) *catalog.Catalog {
	if c.API.Key == "" || c.catErr != nil {
		return nil
	}
	if c.cat == nil {
		c.cat, c.catErr = c.API.catalog(ctx, g.Logger)
		if c.catErr != nil {
			fmt.Fprintf(g.Stderr, "warning: template catalogue not reachable, the template is not checked: %v\n", c.catErr)
		}
	}
	return c.cat
}

// catalogTemplate looks the template up when an API key is configured.
func (c *SendCmd) catalogTemplate(ctx context.Context, g *Globals) (d360.Template, bool) {
	cat := c.catalog(ctx, g)
	if cat == nil {
		return d360.Template{}, false
	}
	return cat.Template(c.Template, c.Language)
}

// checkTemplate checks a template send against the catalogue when an API key
// is configured.
func (c *SendCmd) checkTemplate(ctx context.Context, g *Globals, body []byte) error {
	if _, _, _, ok := catalog.CommandParams(body); !ok {
		return nil
	}
	cat := c.catalog(ctx, g)
	if cat == nil {
		return nil
	}
	if err := cat.CheckCommand(body); err != nil {
		return usageError("%v", err)
	}
	return nil
}

// newCommandProducer returns a kgo client for the command topic after
// checking that the topic exists. kgo, not kafka-go: its idempotent producer
// never writes a record twice when a produce is retried, and a second record
// with the same command id would be a second send.
func newCommandProducer(ctx context.Context, conn kafkaio.Conn, topic string, opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := conn.NewClient(append([]kgo.Opt{
		kgo.DialTimeout(5 * time.Second),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// murmur2 on the key like the Java client and the bridge itself.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(time.Millisecond),
	}, opts...)...)
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	td, err := kadm.NewClient(cl).ListTopics(lctx, topic)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("kafka at %v not reachable: %w", conn.Brokers, err)
	}
	if d, ok := td[topic]; !ok || d.Err != nil {
		cl.Close()
		return nil, fmt.Errorf("command topic %q does not exist at %v (wabridge topics --create makes the bridge's topics)", topic, conn.Brokers)
	}
	return cl, nil
}
