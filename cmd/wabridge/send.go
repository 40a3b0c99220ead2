package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/outbound"
	"github.com/wabridge/wabridge/schemas"
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
	Output         string        `short:"o" default:"text" enum:"text,json" help:"With --wait: text or json (the decoded result event)."`

	Brokers       string `env:"KAFKA_BROKERS" default:"127.0.0.1:9092" help:"Kafka bootstrap brokers."`
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
    wabridge send --to 15550001111 --template promo --language en --param "body.1:currency=USD 19.99"
    echo '{"to":"15550001111","type":"text","text":{"body":"hi"}}' | wabridge send --json - --wait -o json`
}

// exitError carries an exit code to kong (kong.ExitCoder).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

// usageError is a mistake in the command line: exit code 2.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// Run produces the command and prints its id (and, with --wait, its outcome).
func (c *SendCmd) Run(ctx context.Context, g *Globals) error {
	brokers, err := kafkaio.ParseBrokers(c.Brokers)
	if err != nil {
		return usageError("%v", err)
	}
	if c.ExpiresIn < 0 {
		return usageError("--expires-in %s: want a positive duration", c.ExpiresIn)
	}
	if c.Wait && c.Timeout <= 0 {
		return usageError("--timeout %s: want a positive duration", c.Timeout)
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

	var follow *resultFollower
	if c.Wait {
		// Start before producing: the result may come at once.
		if follow, err = newResultFollower(ctx, brokers, c.ResultsTopic, c.registryFlags, time.Time{}, g.Logger); err != nil {
			return err
		}
		defer follow.Close()
	}
	prod, err := newCommandProducer(ctx, brokers, c.Topic, g.Logger)
	if err != nil {
		return err
	}
	defer prod.Close()
	rec := &kgo.Record{Topic: c.Topic, Key: []byte(outbound.UserKey(cmd.To)), Value: body, Headers: headers}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = prod.ProduceSync(pctx, rec).FirstErr()
	cancel()
	if err != nil {
		return fmt.Errorf("producing command to %s at %v: %w", c.Topic, brokers, err)
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
	res, err := follow.Next(wctx, func(cid string) bool { return cid == id })
	if err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			return &exitError{code: 1, err: fmt.Errorf("no result for command %s on %s within %s (is the outbound half running?)", id, c.ResultsTopic, c.Timeout)}
		}
		return err
	}
	if c.Output == "json" {
		fmt.Fprintln(g.Stdout, string(res.JSON))
	} else {
		fmt.Fprintln(g.Stdout, res.String())
	}
	if res.Outcome != "accepted" {
		return &exitError{code: 1, err: fmt.Errorf("command %s %s", id, res.Outcome)}
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
		if isBSUID(c.To) {
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
		shape, values, err := parseSendParams(c.Params, spec)
		if err != nil {
			return nil, usageError("%v", err)
		}
		body, err = shape.command(c.Template, c.Language, c.To, func(i int) string { return values[i] })
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
func newCommandProducer(ctx context.Context, brokers []string, topic string, log *slog.Logger, opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.DialTimeout(5 * time.Second),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// murmur2 on the key like the Java client and the bridge itself.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(time.Millisecond),
		kgo.WithLogger(kafkaio.KgoLogger(log)),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %v: %w", brokers, err)
	}
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	td, err := kadm.NewClient(cl).ListTopics(lctx, topic)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("kafka at %v not reachable: %w", brokers, err)
	}
	if d, ok := td[topic]; !ok || d.Err != nil {
		cl.Close()
		return nil, fmt.Errorf("command topic %q does not exist at %v (wabridge topics --create makes the bridge's topics)", topic, brokers)
	}
	return cl, nil
}

// sendResult is a decoded SendResult event.
type sendResult struct {
	CommandID     string
	Outcome       string
	To            string
	WAID          string
	MessageID     string
	MessageStatus string
	Attempts      int
	Reason        string
	Code          int
	HTTPStatus    int
	Title         string
	Details       string
	// JSON is the event as plain JSON (unions unwrapped).
	JSON json.RawMessage
}

func (r sendResult) String() string {
	switch r.Outcome {
	case "accepted":
		s := fmt.Sprintf("accepted %s message_id=%s", r.CommandID, r.MessageID)
		if r.WAID != "" {
			s += " wa_id=" + r.WAID
		}
		if r.MessageStatus != "" {
			s += " message_status=" + r.MessageStatus
		}
		return s
	default:
		s := fmt.Sprintf("%s %s reason=%s", r.Outcome, r.CommandID, r.Reason)
		if r.Code != 0 {
			s += " code=" + strconv.Itoa(r.Code)
		}
		if r.HTTPStatus != 0 {
			s += " http_status=" + strconv.Itoa(r.HTTPStatus)
		}
		if r.Title != "" {
			s += fmt.Sprintf(" title=%q", r.Title)
		}
		if r.Details != "" {
			s += fmt.Sprintf(" details=%q", r.Details)
		}
		return s
	}
}

// resultFollower reads the results topic from where it ended when the
// follower started (or from the first record at or after since), and
// decodes the results of the commands asked for.
type resultFollower struct {
	cl    *kgo.Client
	dec   *schemas.Decoder
	topic string
	buf   []*kgo.Record
}

func newResultFollower(ctx context.Context, brokers []string, topic string, registry registryFlags, since time.Time, log *slog.Logger) (*resultFollower, error) {
	reg, err := registry.client()
	if err != nil {
		return nil, err
	}
	adm, err := kafkaio.AdminClient(brokers, log)
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	var ends kadm.ListedOffsets
	if since.IsZero() {
		ends, err = adm.ListEndOffsets(lctx, topic)
	} else {
		ends, err = adm.ListOffsetsAfterMilli(lctx, since.UnixMilli(), topic)
	}
	cancel()
	adm.Close()
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s at %v: %w", topic, brokers, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("results topic %q at %v: %w", topic, brokers, err)
	}
	start := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) { start[o.Partition] = kgo.NewOffset().At(o.Offset) })
	if len(start) == 0 {
		return nil, fmt.Errorf("results topic %q not found at %v", topic, brokers)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.WithLogger(kafkaio.KgoLogger(log)),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %v: %w", brokers, err)
	}
	return &resultFollower{cl: cl, dec: schemas.NewDecoder(reg), topic: topic}, nil
}

func (f *resultFollower) Close() { f.cl.Close() }

// Next returns the next result whose command id match accepts. It returns
// ctx's error when ctx ends first.
func (f *resultFollower) Next(ctx context.Context, match func(commandID string) bool) (sendResult, error) {
	for {
		for len(f.buf) > 0 {
			r := f.buf[0]
			f.buf = f.buf[1:]
			id := recordHeader(r, outbound.HeaderCommandID)
			if id == "" || !match(id) {
				continue
			}
			res, err := f.decode(ctx, r)
			if err != nil {
				return sendResult{}, err
			}
			return res, nil
		}
		fs := f.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return sendResult{}, err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("reading %s/%d: %w", t, p, err) })
		if ferr != nil {
			return sendResult{}, ferr
		}
		f.buf = fs.Records()
	}
}

func (f *resultFollower) decode(ctx context.Context, r *kgo.Record) (sendResult, error) {
	native, _, err := f.dec.Decode(ctx, r.Value)
	if err != nil {
		return sendResult{}, fmt.Errorf("decoding result at %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	plain := unwrapUnions(native).(map[string]any)
	res := sendResult{
		CommandID: str(plain["command_id"]), Outcome: str(plain["outcome"]), To: str(plain["to"]),
		WAID: str(plain["wa_id"]), MessageID: str(plain["message_id"]), MessageStatus: str(plain["message_status"]),
		Attempts: num(plain["attempts"]),
	}
	if e, ok := plain["error"].(map[string]any); ok {
		res.Reason, res.Code, res.HTTPStatus = str(e["reason"]), num(e["code"]), num(e["http_status"])
		res.Title, res.Details = str(e["title"]), str(e["details"])
	}
	res.JSON, _ = json.Marshal(plain)
	return res, nil
}

// unwrapUnions turns goavro's union maps ({"string": "x"}) into their values.
func unwrapUnions(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, inner := range x {
				if isAvroTypeName(k) {
					return unwrapUnions(inner)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, inner := range x {
			out[k] = unwrapUnions(inner)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, inner := range x {
			out[i] = unwrapUnions(inner)
		}
		return out
	}
	return v
}

func isAvroTypeName(k string) bool {
	switch k {
	case "string", "int", "long", "boolean", "double", "float", "bytes", "map", "array":
		return true
	}
	return strings.HasPrefix(k, "io.wabridge.")
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func num(v any) int {
	switch x := v.(type) {
	case int32:
		return int(x)
	case int64:
		return int(x)
	case int:
		return x
	}
	return 0
}

func recordHeader(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Template parameters: slots and how a send fills them.

// slot names where a template parameter goes: body.1, body.first_name,
// header, button.0, each optionally with :TYPE.
type slot struct {
	comp  string // header, body, button
	pos   int    // positional body/header parameter (from 1); button index (from 0)
	name  string // parameter_name of a named parameter
	typ   string // explicit parameter type; "" to derive
	raw   string
	given bool // pos or name was written
}

var slotRE = regexp.MustCompile(`^(body|header|button)(?:\.([a-z0-9_]+))?(?::([a-z_]+))?$`)

var paramTypes = []string{"text", "currency", "date_time", "image", "video", "document", "location", "payload", "url", "coupon_code"}

// parseSlot parses a slot; ok is false when s does not look like one.
func parseSlot(s string) (slot, bool, error) {
	m := slotRE.FindStringSubmatch(s)
	if m == nil {
		return slot{}, false, nil
	}
	sl := slot{comp: m[1], typ: m[3], raw: s}
	if sl.typ != "" && !slices.Contains(paramTypes, sl.typ) {
		return sl, true, fmt.Errorf("%s: unknown parameter type %q; want one of %s", s, sl.typ, strings.Join(paramTypes, ", "))
	}
	if m[2] != "" {
		sl.given = true
		if n, err := strconv.Atoi(m[2]); err == nil {
			sl.pos = n
		} else {
			sl.name = m[2]
		}
	}
	switch {
	case sl.comp == "button" && (!sl.given || sl.name != ""):
		return sl, true, fmt.Errorf("%s: a button slot needs the button's index, e.g. button.0", s)
	case sl.comp == "button" && sl.pos > 9:
		return sl, true, fmt.Errorf("%s: button index is 0 to 9", s)
	case sl.comp != "button" && sl.given && sl.name == "" && sl.pos < 1:
		return sl, true, fmt.Errorf("%s: parameters are numbered from 1", s)
	case sl.comp == "header" && sl.pos > 1:
		return sl, true, fmt.Errorf("%s: a header takes at most 1 parameter", s)
	case sl.name != "" && len(sl.name) > 20:
		return sl, true, fmt.Errorf("%s: a parameter name has at most 20 characters", s)
	}
	if sl.comp == "header" && !sl.given {
		sl.pos = 1
	}
	return sl, true, nil
}

// parseSendParams reads send's --param values: "VALUE" fills the next body
// parameter, "SLOT=VALUE" the slot.
func parseSendParams(params []string, spec *d360.TemplateParams) (*templateShape, []string, error) {
	var slots []slot
	var values []string
	next := 1
	for _, p := range params {
		if k, v, ok := strings.Cut(p, "="); ok {
			sl, isSlot, err := parseSlot(k)
			if err != nil {
				return nil, nil, fmt.Errorf("--param %s", err)
			}
			if isSlot {
				if sl.comp == "body" && !sl.given {
					sl.pos, sl.given = next, true
				}
				if sl.comp == "body" && sl.pos >= next {
					next = sl.pos + 1
				}
				slots, values = append(slots, sl), append(values, v)
				continue
			}
		}
		slots = append(slots, slot{comp: "body", pos: next, given: true, raw: fmt.Sprintf("body.%d", next)})
		values = append(values, p)
		next++
	}
	shape, err := newTemplateShape(slots, spec)
	return shape, values, err
}

// templateShape is the layout of a template send: which parameter goes
// where, with what type. Parameter i is filled with value(i).
type templateShape struct {
	slots  []slot
	header int   // index into slots, or -1
	body   []int // indexes, in send order
	// buttons: button index → slot index, ascending by button index
	buttons    [][2]int
	buttonSubs map[int]string
}

// newTemplateShape checks slots against each other and, when spec is known,
// against the template, and resolves each parameter's type.
func newTemplateShape(slots []slot, spec *d360.TemplateParams) (*templateShape, error) {
	s := &templateShape{slots: slots, header: -1, buttonSubs: map[int]string{}}
	seen := map[string]bool{}
	named, positional := "", ""
	for i := range s.slots {
		sl := &s.slots[i]
		id := sl.comp + "." + sl.name + strconv.Itoa(sl.pos)
		if seen[id] {
			return nil, fmt.Errorf("%s is given twice", sl.raw)
		}
		seen[id] = true
		switch sl.comp {
		case "header":
			s.header = i
			if sl.typ == "" {
				sl.typ = "text"
				if spec != nil && spec.HeaderFormat != "" {
					sl.typ = strings.ToLower(spec.HeaderFormat)
				}
			}
			if !slices.Contains([]string{"text", "currency", "date_time", "image", "video", "document", "location"}, sl.typ) {
				return nil, fmt.Errorf("%s: a header parameter cannot be %s", sl.raw, sl.typ)
			}
		case "body":
			s.body = append(s.body, i)
			if sl.typ == "" {
				sl.typ = "text"
			}
			if !slices.Contains([]string{"text", "currency", "date_time"}, sl.typ) {
				return nil, fmt.Errorf("%s: a body parameter is text, currency or date_time, not %s", sl.raw, sl.typ)
			}
		case "button":
			sub := ""
			if spec != nil && sl.pos < len(spec.Buttons) {
				sub = spec.Buttons[sl.pos].SubType
			}
			switch sl.typ {
			case "":
				switch sub {
				case "url":
					sl.typ = "url"
				case "quick_reply":
					sl.typ = "payload"
				case "copy_code":
					sl.typ = "coupon_code"
				case "":
					return nil, fmt.Errorf("%s: say the button's parameter type (%s:url, :payload or :coupon_code), or set D360_API_KEY so the template catalogue tells it", sl.raw, sl.raw)
				default:
					return nil, fmt.Errorf("%s: the template's button %d is %s, which takes no parameter from here", sl.raw, sl.pos, sub)
				}
			case "url", "text":
				sl.typ, sub = "url", "url"
			case "payload":
				sub = "quick_reply"
			case "coupon_code":
				sub = "copy_code"
			default:
				return nil, fmt.Errorf("%s: a button parameter is url, payload or coupon_code, not %s", sl.raw, sl.typ)
			}
			if sub == "" {
				sub = map[string]string{"url": "url", "payload": "quick_reply", "coupon_code": "copy_code"}[sl.typ]
			}
			s.buttonSubs[sl.pos] = sub
			s.buttons = append(s.buttons, [2]int{sl.pos, i})
		}
		// Text-like header and body parameters are all named or all
		// positional; media and button parameters are neither.
		if sl.comp != "button" && slices.Contains([]string{"text", "currency", "date_time"}, sl.typ) {
			if sl.name != "" {
				named = sl.raw
			} else {
				positional = sl.raw
			}
		}
	}
	if named != "" && positional != "" {
		return nil, fmt.Errorf("%s is named and %s positional: a template's parameters are either named or positional", named, positional)
	}
	// Positional body parameters go out in order and must be 1..n.
	slices.SortStableFunc(s.body, func(a, b int) int { return s.slots[a].pos - s.slots[b].pos })
	if named == "" {
		for k, i := range s.body {
			if s.slots[i].pos != k+1 {
				return nil, fmt.Errorf("body parameters must be numbered 1 to %d without gaps; body.%d is missing", len(s.body), k+1)
			}
		}
	}
	slices.SortFunc(s.buttons, func(a, b [2]int) int { return a[0] - b[0] })
	if spec != nil {
		got := catalog.ParamCounts{Body: len(s.body), Buttons: map[int]int{}}
		if s.header >= 0 {
			got.Header, got.HeaderType = 1, s.slots[s.header].typ
		}
		for _, i := range append(append([]int{}, s.body...), s.header) {
			if i >= 0 && s.slots[i].name != "" {
				got.Names = append(got.Names, s.slots[i].name)
			}
		}
		for _, b := range s.buttons {
			got.Buttons[b[0]] = 1
		}
		if d := catalog.Mismatch(*spec, got); d != "" {
			return nil, errors.New(d)
		}
	}
	return s, nil
}

// command renders the send command for one recipient. The JSON is written
// directly (bulk builds one per row).
func (s *templateShape) command(name, language, to string, value func(i int) string) ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, `{"type":"template",`...)
	if isBSUID(to) {
		b = append(b, `"recipient":`...)
	} else {
		b = append(b, `"to":`...)
	}
	b = appendJSONString(b, to)
	b = append(b, `,"template":{"name":`...)
	b = appendJSONString(b, name)
	b = append(b, `,"language":{"code":`...)
	b = appendJSONString(b, language)
	b = append(b, '}')
	var err error
	param := func(b []byte, i int) ([]byte, error) {
		sl := s.slots[i]
		out, err := appendParam(b, sl.typ, sl.name, value(i))
		if err != nil {
			return b, fmt.Errorf("%s: %w", sl.raw, err)
		}
		return out, nil
	}
	comps := 0
	sep := func() {
		if comps == 0 {
			b = append(b, `,"components":[`...)
		} else {
			b = append(b, ',')
		}
		comps++
	}
	if s.header >= 0 {
		sep()
		b = append(b, `{"type":"header","parameters":[`...)
		if b, err = param(b, s.header); err != nil {
			return nil, err
		}
		b = append(b, "]}"...)
	}
	if len(s.body) > 0 {
		sep()
		b = append(b, `{"type":"body","parameters":[`...)
		for k, i := range s.body {
			if k > 0 {
				b = append(b, ',')
			}
			if b, err = param(b, i); err != nil {
				return nil, err
			}
		}
		b = append(b, "]}"...)
	}
	for _, btn := range s.buttons {
		sep()
		b = append(b, `{"type":"button","sub_type":`...)
		b = appendJSONString(b, s.buttonSubs[btn[0]])
		b = append(b, `,"index":"`...)
		b = strconv.AppendInt(b, int64(btn[0]), 10)
		b = append(b, `","parameters":[`...)
		if b, err = param(b, btn[1]); err != nil {
			return nil, err
		}
		b = append(b, "]}"...)
	}
	if comps > 0 {
		b = append(b, ']')
	}
	return append(b, "}}"...), nil
}

// isBSUID tells a business-scoped user id (US.1349...) from a phone number.
func isBSUID(to string) bool {
	return strings.IndexFunc(to, func(r rune) bool { return (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') }) >= 0
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		q, _ := json.Marshal(s) // replaces invalid bytes with U+FFFD
		return append(b, q...)
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendParam appends one parameter of type typ (named when name is set)
// made from a value.
func appendParam(b []byte, typ, name, v string) ([]byte, error) {
	if strings.TrimSpace(v) == "" {
		return b, errors.New("empty value")
	}
	apiType := typ
	if typ == "url" {
		apiType = "text" // a url button's parameter is the text of the URL's suffix
	}
	b = append(b, `{"type":`...)
	b = appendJSONString(b, apiType)
	if name != "" {
		b = append(b, `,"parameter_name":`...)
		b = appendJSONString(b, name)
	}
	switch typ {
	case "text", "url":
		b = append(b, `,"text":`...)
		b = appendJSONString(b, v)
	case "payload", "coupon_code":
		b = append(b, ',', '"')
		b = append(b, typ...)
		b = append(b, '"', ':')
		b = appendJSONString(b, v)
	case "date_time":
		b = append(b, `,"date_time":{"fallback_value":`...)
		b = appendJSONString(b, v)
		b = append(b, '}')
	case "currency":
		code, amount, err := parseMoney(v)
		if err != nil {
			return b, err
		}
		b = append(b, `,"currency":{"fallback_value":`...)
		b = appendJSONString(b, v)
		b = append(b, `,"code":`...)
		b = appendJSONString(b, code)
		b = append(b, `,"amount_1000":`...)
		b = strconv.AppendInt(b, amount, 10)
		b = append(b, '}')
	case "image", "video", "document":
		b = append(b, ',', '"')
		b = append(b, typ...)
		if strings.Contains(v, "://") {
			b = append(b, `":{"link":`...)
		} else {
			b = append(b, `":{"id":`...)
		}
		b = appendJSONString(b, strings.TrimSpace(v))
		b = append(b, '}')
	case "location":
		parts := strings.SplitN(v, ",", 4)
		if len(parts) < 2 {
			return b, fmt.Errorf("location %q: want LATITUDE,LONGITUDE[,NAME[,ADDRESS]]", v)
		}
		lat, err1 := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
		lng, err2 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
		if err1 != nil || err2 != nil {
			return b, fmt.Errorf("location %q: want LATITUDE,LONGITUDE[,NAME[,ADDRESS]] with numbers", v)
		}
		b = append(b, `,"location":{"latitude":`...)
		b = strconv.AppendFloat(b, lat, 'f', -1, 64)
		b = append(b, `,"longitude":`...)
		b = strconv.AppendFloat(b, lng, 'f', -1, 64)
		if len(parts) > 2 {
			b = append(b, `,"name":`...)
			b = appendJSONString(b, strings.TrimSpace(parts[2]))
		}
		if len(parts) > 3 {
			b = append(b, `,"address":`...)
			b = appendJSONString(b, strings.TrimSpace(parts[3]))
		}
		b = append(b, '}')
	default:
		return b, fmt.Errorf("unknown parameter type %q", typ)
	}
	return append(b, '}'), nil
}

// parseMoney reads "USD 19.99" or "19.99 USD" into the ISO code and the
// amount × 1000.
func parseMoney(v string) (string, int64, error) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return "", 0, fmt.Errorf("currency %q: want CODE AMOUNT such as USD 19.99", v)
	}
	code, amount := f[0], f[1]
	if len(amount) == 3 && !strings.ContainsAny(amount, "0123456789") {
		code, amount = amount, code
	}
	if len(code) != 3 || strings.ContainsAny(code, "0123456789.,") {
		return "", 0, fmt.Errorf("currency %q: want an ISO 4217 code of 3 letters and an amount, such as USD 19.99", v)
	}
	whole, frac, _ := strings.Cut(amount, ".")
	if len(frac) > 3 || whole == "" || strings.Trim(whole+frac, "0123456789") != "" {
		return "", 0, fmt.Errorf("currency %q: amount %q is not a number with at most 3 decimals", v, amount)
	}
	n, err := strconv.ParseInt(whole+(frac + "000")[:3], 10, 64)
	if err != nil || n <= 0 {
		return "", 0, fmt.Errorf("currency %q: amount must be greater than 0", v)
	}
	return strings.ToUpper(code), n, nil
}
