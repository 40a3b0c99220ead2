package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/term"
	"golang.org/x/time/rate"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/outbound"
)

// BulkCmd sends a template campaign to a contact list.
type BulkCmd struct {
	File           string        `arg:"" type:"existingfile" help:"Contact list: CSV with a header row, or JSONL (one JSON object per line). UTF-8; a byte-order mark is skipped."`
	Campaign       string        `required:"" help:"Campaign name (letters, digits, . _ -; at most 64). Each command's id is bulk:CAMPAIGN:RECIPIENT, so re-running the campaign never sends anyone twice."`
	Template       string        `required:"" placeholder:"NAME" help:"Template name."`
	Language       string        `required:"" placeholder:"CODE" help:"Template language code, e.g. en_US."`
	Params         []string      `name:"param" sep:"none" placeholder:"SLOT=COLUMN" help:"Fill a template parameter from a column, repeatable. SLOT is body.N, body.NAME (named), header or button.N (index from 0), with an optional :TYPE (text, currency, date_time, image, video, document, location, payload, url, coupon_code)."`
	Set            []string      `sep:"none" placeholder:"SLOT=VALUE" help:"Fill a template parameter with the same VALUE for every row, repeatable."`
	Mapping        string        `placeholder:"FILE" help:"JSON mapping file: {\"to\": COLUMN, \"params\": {SLOT: COLUMN, ...}, \"set\": {SLOT: VALUE, ...}}; combines with --param and --set."`
	ToColumn       string        `name:"to-column" placeholder:"COLUMN" help:"Column of the recipient (default: the first of phone, to, wa_id, recipient, msisdn, mobile)."`
	Format         string        `default:"auto" enum:"auto,csv,jsonl" help:"File format: csv, jsonl, or auto (by extension: .jsonl/.ndjson are JSONL, others CSV)."`
	Delimiter      string        `default:"," help:"CSV field delimiter (, ; or \\t)."`
	TemplateDef    string        `name:"template-def" placeholder:"FILE" help:"Template definition (as 'templates show -o json' prints it) to check the mapping against when the catalogue cannot be reached (no D360_API_KEY, or the API does not answer)."`
	Rejects        string        `placeholder:"FILE" help:"Where rejected rows go with their line and reason (default: CAMPAIGN.rejects.csv, or .jsonl for JSONL input)."`
	State          string        `placeholder:"FILE" help:"Progress file of the campaign: the recipients produced so far (default: CAMPAIGN.bulk-state)."`
	MaxRejects     int           `default:"0" help:"Produce nothing when more rows than this are rejected (-1: any number; the rest is sent)."`
	DryRun         bool          `help:"Validate every row, write the rejects file and print the first command; produce nothing (no Kafka needed)."`
	Rate           float64       `default:"80" help:"Commands produced per second (0: no limit). The bridge sends at its own --rate (80/s by default); producing much faster only queues the campaign ahead of other traffic on the same partitions."`
	ExpiresIn      time.Duration `placeholder:"DURATION" help:"Have the bridge reject, not send, commands still unsent this long after they were produced (expires-at header)."`
	BusinessNumber string        `placeholder:"NUMBER" help:"Business number whose API key sends the campaign (business-number header)."`
	ScanSince      time.Duration `default:"168h" help:"How far back the command topic is searched for this campaign's commands when the progress file does not say when the campaign started."`
	Wait           bool          `help:"After producing, follow the results topic until every command of the campaign has its result, then print a summary (accepted / rejected / failed by error code)."`
	WaitTimeout    time.Duration `default:"0s" help:"With --wait: give up after this long (0: wait until every result is in, or Ctrl-C)."`
	Report         string        `placeholder:"FILE" help:"With --wait: write one CSV line per result (recipient, command_id, outcome, message_id, reason, code, title, details)."`
	Progress       string        `default:"auto" enum:"auto,always,never" help:"Progress bar on stderr: auto (when stderr is a terminal; else a line every 10s), always or never."`

	Brokers       string `env:"KAFKA_BROKERS" default:"127.0.0.1:9092" help:"Kafka bootstrap brokers."`
	Topic         string `env:"WABRIDGE_TOPIC_COMMANDS" default:"wabridge.commands" help:"Command topic."`
	ResultsTopic  string `env:"WABRIDGE_TOPIC_RESULTS" default:"wabridge.results" help:"Results topic (--wait)."`
	registryFlags `embed:""`
	API           APIFlags `embed:""`
}

// Help is shown by --help.
func (BulkCmd) Help() string {
	return `Sends one template message per row of a contact list. First every row is validated (recipient format, duplicate recipients, each parameter's value, and the mapping against the template from the account's catalogue when D360_API_KEY is set, else against --template-def); rejected rows go to the rejects file with their line and reason. Then one command per valid row is produced with the id bulk:CAMPAIGN:RECIPIENT. Re-running the same campaign (after a crash, Ctrl-C, or with a corrected file) skips every recipient already produced: they are read from the progress file and from the command topic itself before anything is produced. Exit code 0 when every row went out (and, with --wait, was accepted); 1 when rows were rejected, results failed or the wait timed out; 2 for usage errors.

Examples:

    # contacts.csv: phone,first_name,order_id
    wabridge bulk contacts.csv --campaign spring-2026 --template order_update --language en_US \
        --param header=order_id --param body.1=first_name --set "body.2=on its way" \
        --param button.0=order_id --dry-run
    wabridge bulk contacts.csv --campaign spring-2026 --template order_update --language en_US \
        --mapping mapping.json --rate 50 --wait --report spring-2026.results.csv
    wabridge bulk contacts.jsonl --campaign welcome-w12 --template welcome --language en \
        --param body.first_name=name --to-column msisdn --max-rejects -1

mapping.json:

    {"to": "phone", "params": {"header": "order_id", "body.1": "first_name", "button.0": "order_id"},
     "set": {"body.2": "on its way"}}`
}

var campaignRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// recipientColumns are tried in order when --to-column is not given.
var recipientColumns = []string{"phone", "to", "wa_id", "recipient", "msisdn", "mobile", "phone_number"}

// Run runs the campaign.
func (c *BulkCmd) Run(ctx context.Context, g *Globals) error {
	if !campaignRE.MatchString(c.Campaign) {
		return usageError("--campaign %q: letters, digits, . _ and - only, at most 64", c.Campaign)
	}
	if c.Rate < 0 {
		return usageError("--rate %g: want 0 (no limit) or more", c.Rate)
	}
	if c.MaxRejects < -1 {
		return usageError("--max-rejects %d: want 0 or more, or -1 for any number", c.MaxRejects)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"expires-in", c.ExpiresIn}, {"wait-timeout", c.WaitTimeout}, {"scan-since", c.ScanSince}} {
		if d.v < 0 {
			return usageError("--%s %s: want a positive duration", d.flag, d.v)
		}
	}
	// Before pass 1, which may read a large file.
	var brokers []string
	if !c.DryRun {
		var err error
		if brokers, err = kafkaio.ParseBrokers(c.Brokers); err != nil {
			return usageError("%v", err)
		}
	}
	format := c.Format
	if format == "auto" {
		format = "csv"
		if ext := strings.ToLower(filepath.Ext(c.File)); ext == ".jsonl" || ext == ".ndjson" {
			format = "jsonl"
		}
	}
	delim, err := parseDelimiter(c.Delimiter)
	if err != nil {
		return err
	}
	spec, specFrom, err := c.templateSpec(ctx, g)
	if err != nil {
		return err
	}
	if spec == nil {
		fmt.Fprintln(g.Stderr, "note: "+specFrom)
	}
	m, err := c.mapping()
	if err != nil {
		return err
	}
	cols, err := csvColumns(c.File, format, delim)
	if err != nil {
		return err
	}
	p, err := newPlan(planConfig{
		campaign: c.Campaign, template: c.Template, language: c.Language,
		format: format, delim: delim, mapping: m, columns: cols, spec: spec,
		businessNumber: c.BusinessNumber,
	})
	if err != nil {
		return usageError("%v", err)
	}
	rejectsPath := c.Rejects
	if rejectsPath == "" {
		rejectsPath = c.Campaign + ".rejects." + map[string]string{"csv": "csv", "jsonl": "jsonl"}[format]
	}

	// Pass 1: validate every row; rejected rows go to the rejects file.
	t0 := time.Now()
	v, err := p.validate(ctx, c.File, rejectsPath, c.progress(g, "validating", -1))
	if err != nil {
		return err
	}
	fmt.Fprintf(g.Stderr, "%s: %d rows, %d valid, %d rejected", c.File, v.rows, v.valid, v.rejected)
	if v.blank > 0 {
		fmt.Fprintf(g.Stderr, ", %d blank lines skipped", v.blank)
	}
	fmt.Fprintf(g.Stderr, " (validated in %s)\n", time.Since(t0).Round(time.Millisecond))
	if v.rejected > 0 {
		fmt.Fprintf(g.Stderr, "rejected rows with their reasons: %s\n", rejectsPath)
		for _, ex := range v.examples {
			fmt.Fprintf(g.Stderr, "  %s\n", ex)
		}
	} else {
		_ = os.Remove(rejectsPath) // no stale rejects from an earlier run
	}
	tooMany := c.MaxRejects >= 0 && v.rejected > c.MaxRejects
	if c.DryRun {
		if v.first != nil {
			var pretty bytes.Buffer
			_ = json.Indent(&pretty, v.first, "", "  ")
			fmt.Fprintf(g.Stdout, "first command (id %s):\n%s\n", v.firstID, pretty.String())
		}
		fmt.Fprintf(g.Stdout, "dry run: %d commands would be produced to %s\n", v.valid, c.Topic)
		if tooMany {
			return &exitError{code: 1, err: fmt.Errorf("%d rows rejected (more than --max-rejects %d): fix them or raise --max-rejects", v.rejected, c.MaxRejects)}
		}
		return nil
	}
	if tooMany {
		return &exitError{code: 1, err: fmt.Errorf("%d rows rejected (more than --max-rejects %d); nothing was produced: fix the rows in %s, or pass --max-rejects -1 to send the valid ones", v.rejected, c.MaxRejects, rejectsPath)}
	}
	if v.valid == 0 {
		return &exitError{code: 1, err: errors.New("no valid row; nothing to produce")}
	}

	statePath := c.State
	if statePath == "" {
		statePath = c.Campaign + ".bulk-state"
	}
	st, err := openState(statePath, stateHeader{Campaign: c.Campaign, Template: c.Template, Language: c.Language, Input: c.File})
	if err != nil {
		return err
	}
	defer st.close()
	if st.loaded > 0 {
		fmt.Fprintf(g.Stderr, "progress file %s: %d recipients already produced (campaign started %s)\n", statePath, st.loaded, st.header.StartedAt.Format(time.RFC3339))
	}

	prod, err := newCommandProducer(ctx, brokers, c.Topic, g.Logger, kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(5_000))
	if err != nil {
		return err
	}
	defer prod.Close()

	// The command topic is the record of what was produced: a crash can
	// lose the progress file's last lines, never an acknowledged record.
	since := time.Now().Add(-c.ScanSince)
	if !st.header.StartedAt.IsZero() && st.loaded > 0 {
		since = st.header.StartedAt.Add(-5 * time.Minute)
	}
	scan, err := scanCampaign(ctx, brokers, prod, c.Topic, p.idPrefix, since, st)
	if err != nil {
		return err
	}
	if scan.found > 0 {
		fmt.Fprintf(g.Stderr, "command topic %s: %d commands of campaign %s already there (%d not in the progress file)\n", c.Topic, scan.found, c.Campaign, scan.added)
	}
	if st.header.StartedAt.IsZero() || (!scan.earliest.IsZero() && scan.earliest.Before(st.header.StartedAt)) {
		st.header.StartedAt = time.Now().UTC()
		if !scan.earliest.IsZero() {
			st.header.StartedAt = scan.earliest.UTC()
		}
	}
	if err := st.writeHeader(); err != nil {
		return err
	}

	// Pass 2: produce every valid row not produced before. Pass 1's set of
	// recipients is garbage now: collect it before pass 2 allocates, so the
	// peak is the larger pass, not the sum of both.
	runtime.GC()
	var limiter *rate.Limiter
	if c.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(c.Rate), max(1, int(c.Rate/10)))
	}
	t0 = time.Now()
	pr, err := p.produce(ctx, produceConfig{
		file: c.File, pass1: v, client: prod, topic: c.Topic, state: st, limiter: limiter,
		expiresIn: c.ExpiresIn, bar: c.progress(g, "producing", int64(v.valid)),
	})
	elapsed := time.Since(t0)
	fmt.Fprintf(g.Stderr, "produced %d commands to %s in %s", pr.produced, c.Topic, elapsed.Round(time.Millisecond))
	if s := elapsed.Seconds(); s > 0 && pr.produced > 0 {
		fmt.Fprintf(g.Stderr, " (%.0f/s)", float64(pr.produced)/s)
	}
	fmt.Fprintf(g.Stderr, "; %d skipped, produced before\n", pr.skipped)
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: 1, err: fmt.Errorf("interrupted after %d commands; run the same command again to continue: nobody already produced gets a second message", pr.produced)}
		}
		return fmt.Errorf("%w; run the same command again to continue: nobody already produced gets a second message", err)
	}
	if !c.Wait {
		if v.rejected > 0 {
			return &exitError{code: 1, err: fmt.Errorf("%d rows rejected (see %s)", v.rejected, rejectsPath)}
		}
		return nil
	}
	return c.wait(ctx, g, brokers, p, st)
}

// templateSpec finds what the template needs: from the catalogue when an
// API key is set and the API answers, else from --template-def. A template
// the catalogue does not know, or that is not approved, stops the campaign.
func (c *BulkCmd) templateSpec(ctx context.Context, g *Globals) (*d360.TemplateParams, string, error) {
	if c.API.Key != "" {
		cat, err := c.API.catalog(ctx, g.Logger)
		if err == nil {
			if err := cat.Check(c.Template, c.Language, catalog.ParamCounts{}); err != nil && !errors.Is(err, catalog.ErrParamMismatch) {
				return nil, "", usageError("%v", err)
			}
			t, _ := cat.Template(c.Template, c.Language)
			p := t.Params()
			return &p, "catalogue", nil
		}
		fmt.Fprintf(g.Stderr, "warning: template catalogue not reachable (%v)\n", err)
	}
	if c.TemplateDef != "" {
		t, err := readTemplateDef(c.TemplateDef, c.Template, c.Language)
		if err != nil {
			return nil, "", usageError("%v", err)
		}
		p := t.Params()
		return &p, c.TemplateDef, nil
	}
	return nil, "the template is not known here (no D360_API_KEY, no --template-def): the mapping is not checked against it, only each row's values", nil
}

// readTemplateDef reads a template definition: one object, or the array
// 'templates show -o json' prints (the entry in language is taken).
func readTemplateDef(path, name, language string) (d360.Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return d360.Template{}, err
	}
	var list []d360.Template
	if err := json.Unmarshal(b, &list); err != nil {
		var one d360.Template
		if err2 := json.Unmarshal(b, &one); err2 != nil {
			return d360.Template{}, fmt.Errorf("--template-def %s: not a template definition: %v", path, err2)
		}
		list = []d360.Template{one}
	}
	var langs []string
	for _, t := range list {
		if t.Name == name && (t.Language == language || t.Language == "") {
			return t, nil
		}
		langs = append(langs, t.Name+"/"+t.Language)
	}
	return d360.Template{}, fmt.Errorf("--template-def %s has no template %s in %s (it has %s)", path, name, language, strings.Join(langs, ", "))
}

// bulkMapping is where each parameter's value comes from.
type bulkMapping struct {
	To     string            `json:"to"`
	Params map[string]string `json:"params"`
	Set    map[string]string `json:"set"`
}

func (c *BulkCmd) mapping() (bulkMapping, error) {
	m := bulkMapping{Params: map[string]string{}, Set: map[string]string{}}
	if c.Mapping != "" {
		b, err := os.ReadFile(c.Mapping)
		if err != nil {
			return m, usageError("%v", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return m, usageError("--mapping %s: %v (want {\"to\": COLUMN, \"params\": {SLOT: COLUMN}, \"set\": {SLOT: VALUE}})", c.Mapping, err)
		}
		if m.Params == nil {
			m.Params = map[string]string{}
		}
		if m.Set == nil {
			m.Set = map[string]string{}
		}
	}
	add := func(flag string, list []string, into map[string]string) error {
		for _, s := range list {
			k, v, ok := strings.Cut(s, "=")
			if !ok || k == "" {
				return usageError("--%s %q: want SLOT=%s", flag, s, map[string]string{"param": "COLUMN", "set": "VALUE"}[flag])
			}
			if _, dup := m.Params[k]; dup {
				return usageError("--%s %s: the slot is mapped twice", flag, k)
			}
			if _, dup := m.Set[k]; dup {
				return usageError("--%s %s: the slot is mapped twice", flag, k)
			}
			into[k] = v
		}
		return nil
	}
	if err := add("param", c.Params, m.Params); err != nil {
		return m, err
	}
	if err := add("set", c.Set, m.Set); err != nil {
		return m, err
	}
	if c.ToColumn != "" {
		m.To = c.ToColumn
	}
	return m, nil
}

func parseDelimiter(s string) (rune, error) {
	switch s {
	case `\t`, "tab", "\t":
		return '\t', nil
	}
	r, n := utf8.DecodeRuneInString(s)
	if n != len(s) || r == utf8.RuneError || r == '"' || r == '\r' || r == '\n' {
		return 0, usageError("--delimiter %q: want one character such as , ; or \\t", s)
	}
	return r, nil
}

// csvColumns reads the header row of a CSV file (nil for JSONL).
func csvColumns(path, format string, delim rune) ([]string, error) {
	if format != "csv" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError("%v", err)
	}
	defer f.Close()
	rr, err := newRowReader(f, format, delim)
	if err != nil {
		return nil, usageError("%s: %v", path, err)
	}
	return rr.header, nil
}

// Rows.

// row is one data row: its fields by column (CSV) or its object (JSONL).
type row struct {
	line   int      // line the row starts on
	fields []string // CSV fields; for JSONL the values of the plan's columns
	raw    []byte   // JSONL: the line
	err    error    // the row cannot be read
}

// rowReader streams rows of a CSV or JSONL file.
type rowReader struct {
	format string
	header []string // CSV
	csv    *csv.Reader
	lines  *bufio.Scanner
	line   int // JSONL: current line
	read   *countingReader
	blank  int // blank rows skipped
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

const maxLine = 1 << 20

// newRowReader starts reading r; for CSV it reads the header row. A UTF-8
// byte-order mark is skipped; UTF-16 files are refused.
func newRowReader(r io.Reader, format string, delim rune) (*rowReader, error) {
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(cr, 64<<10)
	if bom, _ := br.Peek(3); bytes.HasPrefix(bom, []byte("\xEF\xBB\xBF")) {
		_, _ = br.Discard(3)
	} else if bytes.HasPrefix(bom, []byte("\xFF\xFE")) || bytes.HasPrefix(bom, []byte("\xFE\xFF")) {
		return nil, errors.New("the file is UTF-16; save it as UTF-8 (CSV UTF-8 in Excel)")
	}
	rr := &rowReader{format: format, read: cr}
	if format == "jsonl" {
		rr.lines = bufio.NewScanner(br)
		rr.lines.Buffer(make([]byte, 64<<10), maxLine)
		return rr, nil
	}
	rr.csv = csv.NewReader(br)
	rr.csv.Comma = delim
	rr.csv.FieldsPerRecord = -1 // checked per row, so one bad row is one rejected row
	rr.csv.ReuseRecord = true
	for {
		rec, err := rr.csv.Read()
		if err == io.EOF {
			return nil, errors.New("the file is empty: want a header row naming the columns, e.g. phone,first_name")
		}
		if err != nil {
			return nil, fmt.Errorf("header row: %v", csvError(err))
		}
		if blankRecord(rec) {
			continue
		}
		rr.header = make([]string, len(rec))
		for i, h := range rec {
			rr.header[i] = strings.TrimSpace(h)
			if !utf8.ValidString(h) {
				return nil, errors.New("header row is not valid UTF-8; save the file as UTF-8")
			}
		}
		return rr, nil
	}
}

// next returns the next row; io.EOF at the end. Errors of one row come in
// row.err; a returned error ends the file (an over-long JSONL line).
func (rr *rowReader) next() (row, error) {
	if rr.format == "jsonl" {
		for rr.lines.Scan() {
			rr.line++
			b := rr.lines.Bytes()
			if len(bytes.TrimSpace(b)) == 0 {
				rr.blank++
				continue
			}
			return row{line: rr.line, raw: b}, nil
		}
		if err := rr.lines.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				return row{}, fmt.Errorf("line %d is longer than %d bytes", rr.line+1, maxLine)
			}
			return row{}, err
		}
		return row{}, io.EOF
	}
	for {
		rec, err := rr.csv.Read()
		if err == io.EOF {
			return row{}, io.EOF
		}
		if err != nil {
			// FieldPos is only valid for a record read without error.
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			return row{line: line, fields: slices.Clone(rec), err: csvError(err)}, nil
		}
		line, _ := rr.csv.FieldPos(0)
		if blankRecord(rec) {
			rr.blank++
			continue
		}
		r := row{line: line, fields: slices.Clone(rec)}
		if len(rec) != len(rr.header) {
			r.err = fmt.Errorf("%d fields, the header has %d (a comma inside a value needs quotes: \"Smith, Jane\")", len(rec), len(rr.header))
		}
		return r, nil
	}
}

func blankRecord(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// csvError words encoding/csv's errors for people.
func csvError(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Errorf(`a " inside an unquoted value (at character %d): quote the whole value and double the quote, e.g. "say ""hi"""`, pe.Column)
	case errors.Is(pe.Err, csv.ErrQuote):
		return fmt.Errorf(`a quoted value is not closed, or a " is followed by text (at character %d); the quote opened on line %d`, pe.Column, pe.StartLine)
	}
	return pe.Err
}

// Plan: how a row becomes a command.

type planConfig struct {
	campaign, template, language string
	format                       string
	delim                        rune
	mapping                      bulkMapping
	columns                      []string // CSV header
	spec                         *d360.TemplateParams
	businessNumber               string
}

type plan struct {
	cfg      planConfig
	idPrefix string
	shape    *templateShape
	// Sources: the recipient column, then per shape slot a column or a
	// constant. Columns index into cols (the columns the plan reads).
	cols     []string
	colIndex []int // CSV: index of cols[i] in the header
	to       int
	srcCol   []int // per slot: index into cols, or -1
	srcConst []string
	// fieldOf maps a JSON path prefix of the command to what the row
	// calls it, for errors.
	fieldOf [][2]string
}

func newPlan(cfg planConfig) (*plan, error) {
	p := &plan{cfg: cfg, idPrefix: "bulk:" + cfg.campaign + ":"}
	type src struct {
		slot  slot
		col   string
		value string
		isSet bool
	}
	var srcs []src
	for _, k := range sortedKeys(cfg.mapping.Params) {
		sl, err := mappedSlot(k)
		if err != nil {
			return nil, err
		}
		if cfg.mapping.Params[k] == "" {
			return nil, fmt.Errorf("%s: no column given", k)
		}
		srcs = append(srcs, src{slot: sl, col: cfg.mapping.Params[k]})
	}
	for _, k := range sortedKeys(cfg.mapping.Set) {
		sl, err := mappedSlot(k)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src{slot: sl, value: cfg.mapping.Set[k], isSet: true})
	}
	slots := make([]slot, len(srcs))
	for i, s := range srcs {
		slots[i] = s.slot
	}
	shape, err := newTemplateShape(slots, cfg.spec)
	if err != nil {
		return nil, fmt.Errorf("mapping does not fit template %s (%s): %v", cfg.template, cfg.language, err)
	}
	p.shape = shape

	// Columns.
	toCol := cfg.mapping.To
	if toCol == "" {
		if cfg.format == "csv" {
			for _, want := range recipientColumns {
				if i := findColumn(cfg.columns, want); i >= 0 {
					toCol = cfg.columns[i]
					break
				}
			}
		} else {
			toCol = "phone"
		}
		if toCol == "" {
			return nil, fmt.Errorf("no recipient column: name it with --to-column (the file has %s; tried %s)", strings.Join(cfg.columns, ", "), strings.Join(recipientColumns, ", "))
		}
	}
	colID := func(name string) (int, error) {
		if i := slices.Index(p.cols, name); i >= 0 {
			return i, nil
		}
		if cfg.format == "csv" {
			i := findColumn(cfg.columns, name)
			if i < 0 {
				return 0, fmt.Errorf("unknown column %q: the header has %s%s", name, strings.Join(cfg.columns, ", "), suggestColumn(cfg.columns, name))
			}
			if j := findColumn(cfg.columns[i+1:], name); j >= 0 {
				return 0, fmt.Errorf("column %q appears twice in the header (fields %d and %d)", name, i+1, i+j+2)
			}
			p.colIndex = append(p.colIndex, i)
		}
		p.cols = append(p.cols, name)
		return len(p.cols) - 1, nil
	}
	if p.to, err = colID(toCol); err != nil {
		return nil, err
	}
	p.srcCol = make([]int, len(shape.slots))
	p.srcConst = make([]string, len(shape.slots))
	for i, s := range srcs {
		if s.isSet {
			p.srcCol[i], p.srcConst[i] = -1, s.value
			if _, err := appendParam(nil, shape.slots[i].typ, "", s.value); err != nil {
				return nil, fmt.Errorf("--set %s: %v", s.slot.raw, err)
			}
			continue
		}
		if p.srcCol[i], err = colID(s.col); err != nil {
			return nil, fmt.Errorf("%s: %v", s.slot.raw, err)
		}
	}

	// JSON paths of the command's parameters, for row errors.
	name := func(i int) string {
		if p.srcCol[i] < 0 {
			return fmt.Sprintf("%s (set to %q)", shape.slots[i].raw, p.srcConst[i])
		}
		return fmt.Sprintf("column %q (%s)", p.cols[p.srcCol[i]], shape.slots[i].raw)
	}
	comp := 0
	if shape.header >= 0 {
		p.fieldOf = append(p.fieldOf, [2]string{"template.components[0].parameters[0]", name(shape.header)})
		comp++
	}
	if len(shape.body) > 0 {
		for k, i := range shape.body {
			p.fieldOf = append(p.fieldOf, [2]string{fmt.Sprintf("template.components[%d].parameters[%d]", comp, k), name(i)})
		}
		comp++
	}
	for _, b := range shape.buttons {
		p.fieldOf = append(p.fieldOf, [2]string{fmt.Sprintf("template.components[%d]", comp), name(b[1])})
		comp++
	}
	p.fieldOf = append(p.fieldOf, [2]string{"to", fmt.Sprintf("column %q (recipient)", p.cols[p.to])}, [2]string{"recipient", fmt.Sprintf("column %q (recipient)", p.cols[p.to])})
	return p, nil
}

// mappedSlot parses the slot a --param, --set or --mapping entry names; a
// body slot must say which parameter: a mapping has no order, so no "next"
// body parameter.
func mappedSlot(k string) (slot, error) {
	sl, ok, err := parseSlot(k)
	if err == nil && !ok {
		err = fmt.Errorf("%q is not a slot: want body.N, body.NAME, header or button.N, optionally with :TYPE", k)
	}
	if err != nil {
		return slot{}, err
	}
	if sl.comp == "body" && !sl.given {
		return slot{}, fmt.Errorf("%s: say which body parameter, e.g. body.1 or body.first_name", k)
	}
	return sl, nil
}

// findColumn finds a column by name, ignoring case and surrounding spaces.
func findColumn(cols []string, name string) int {
	name = strings.TrimSpace(name)
	if i := slices.Index(cols, name); i >= 0 {
		return i
	}
	for i, c := range cols {
		if strings.EqualFold(c, name) {
			return i
		}
	}
	return -1
}

func suggestColumn(cols []string, name string) string {
	best, bestD := "", 3
	for _, c := range cols {
		if d := catalog.Distance(strings.ToLower(c), strings.ToLower(name)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// values extracts the plan's columns from a row (JSONL rows are parsed
// here); a missing or unusable value is a row error.
func (p *plan) values(r *row) error {
	if r.err != nil {
		return r.err
	}
	if p.cfg.format == "csv" {
		vals := make([]string, len(p.cols))
		for i, idx := range p.colIndex {
			vals[i] = r.fields[idx]
		}
		r.fields = vals
	} else {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(r.raw, &obj); err != nil || obj == nil {
			if err == nil {
				err = errors.New("null")
			}
			return fmt.Errorf("not a JSON object: %v", err)
		}
		r.fields = make([]string, len(p.cols))
		for i, col := range p.cols {
			raw, ok := obj[col]
			if !ok {
				for k, v := range obj { // as for CSV headers: ignore case
					if strings.EqualFold(strings.TrimSpace(k), col) {
						raw, ok = v, true
						break
					}
				}
			}
			if !ok || string(raw) == "null" {
				keys := make([]string, 0, len(obj))
				for k := range obj {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				return fmt.Errorf("field %q missing (the row has %s)", col, strings.Join(keys, ", "))
			}
			v, err := jsonScalar(raw)
			if err != nil {
				return fmt.Errorf("field %q: %v", col, err)
			}
			r.fields[i] = v
		}
	}
	for i, v := range r.fields {
		if !utf8.ValidString(v) {
			return fmt.Errorf("column %q is not valid UTF-8: save the file as UTF-8", p.cols[i])
		}
	}
	return nil
}

func jsonScalar(raw json.RawMessage) (string, error) {
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case '{', '[':
		return "", errors.New("is an object or array; want a string or a number")
	case 't', 'f':
		return string(raw), nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

// build turns a row into its command; the error is a row-level reason.
func (p *plan) build(r *row) (key, id string, body []byte, err error) {
	if err := p.values(r); err != nil {
		return "", "", nil, err
	}
	to := strings.TrimSpace(r.fields[p.to])
	if to == "" {
		return "", "", nil, fmt.Errorf("column %q (recipient) is empty", p.cols[p.to])
	}
	body, err = p.shape.command(p.cfg.template, p.cfg.language, to, func(i int) string {
		if c := p.srcCol[i]; c >= 0 {
			return r.fields[c]
		}
		return p.srcConst[i]
	})
	if err != nil {
		return "", "", nil, p.explain(err)
	}
	key = outbound.UserKey(to)
	id = p.idPrefix + key
	cmd, err := outbound.ParseCommand(&kgo.Record{Topic: "bulk", Value: body, Headers: []kgo.RecordHeader{{Key: outbound.HeaderCommandID, Value: []byte(id)}}})
	if err != nil {
		return "", "", nil, p.explain(err)
	}
	return key, id, cmd.Body, nil
}

// explain names the column behind a command validation error.
func (p *plan) explain(err error) error {
	var ie *outbound.InvalidError
	if !errors.As(err, &ie) {
		// templateShape errors start with the slot: name the column too.
		for i, sl := range p.shape.slots {
			if strings.HasPrefix(err.Error(), sl.raw+":") && p.srcCol[i] >= 0 {
				return fmt.Errorf("column %q (%s):%s", p.cols[p.srcCol[i]], sl.raw, strings.TrimPrefix(err.Error(), sl.raw+":"))
			}
		}
		return err
	}
	for _, f := range p.fieldOf {
		if ie.Field == f[0] || strings.HasPrefix(ie.Field, f[0]+".") || strings.HasPrefix(ie.Field, f[0]+"[") {
			return fmt.Errorf("%s: %s", f[1], ie.Rule)
		}
	}
	return err
}

// keySet is a set of recipients: 8 bytes of key per recipient (a phone
// number's digits exactly, other ids hashed), so memory stays small however
// large the file.
type keySet map[uint64]int32

func recipientHash(key string) uint64 {
	if n := len(key); n > 0 && n <= 17 {
		var v uint64
		digits := true
		for i := 0; i < n; i++ {
			c := key[i]
			if c < '0' || c > '9' {
				digits = false
				break
			}
			v = v*10 + uint64(c-'0')
		}
		if digits {
			return uint64(n)<<57 | v
		}
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64() | 1<<63
}

// validation is what pass 1 found.
type validation struct {
	rows, valid, rejected, blank int
	first                        []byte
	firstID                      string
	// rejectedLines are the lines of rejected rows, ascending: pass 2
	// skips them instead of keeping a set of every recipient again.
	rejectedLines []int
	// size and modTime identify the file pass 1 read.
	size     int64
	modTime  time.Time
	examples []string
}

// rejectWriter writes rejected rows.
type rejectWriter struct {
	f      *os.File
	w      *bufio.Writer
	csv    *csv.Writer
	format string
	header []string
	delim  rune
	n      int
}

func newRejectWriter(path, format string, header []string, delim rune) (*rejectWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("rejects file: %w", err)
	}
	rw := &rejectWriter{f: f, w: bufio.NewWriter(f), format: format, header: header, delim: delim}
	if format == "csv" {
		rw.csv = csv.NewWriter(rw.w)
		rw.csv.Comma = delim
		_ = rw.csv.Write(append(slices.Clone(header), "wabridge_line", "wabridge_error"))
	}
	return rw, nil
}

// write writes a rejected row. CSV rows keep the input's columns (short rows
// padded, the surplus of long rows joined into the last column) followed by
// wabridge_line and wabridge_error, so the file can be fixed and fed to the
// same campaign again: unknown columns are ignored, and recipients already
// produced are skipped.
func (rw *rejectWriter) write(r row, reason error) error {
	rw.n++
	if rw.format == "csv" {
		n := len(rw.header)
		fields := make([]string, n, n+2)
		copy(fields, r.fields)
		if len(r.fields) > n && n > 0 {
			fields[n-1] = strings.Join(r.fields[n-1:], string(rw.delim))
		}
		return rw.csv.Write(append(fields, strconv.Itoa(r.line), reason.Error()))
	}
	var orig any = json.RawMessage(r.raw)
	if !json.Valid(r.raw) {
		orig = string(r.raw)
	}
	b, err := json.Marshal(map[string]any{"line": r.line, "error": reason.Error(), "row": orig})
	if err != nil {
		return err
	}
	_, err = rw.w.Write(append(b, '\n'))
	return err
}

func (rw *rejectWriter) close() error {
	if rw.csv != nil {
		rw.csv.Flush()
	}
	err := rw.w.Flush()
	if cerr := rw.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// validate is pass 1: every row is built and checked; rejected rows go to
// the rejects file.
func (p *plan) validate(ctx context.Context, path, rejectsPath string, bar progress) (validation, error) {
	var v validation
	f, err := os.Open(path)
	if err != nil {
		return v, usageError("%v", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		bar.setMax(st.Size())
		v.size, v.modTime = st.Size(), st.ModTime()
	}
	rr, err := newRowReader(f, p.cfg.format, p.cfg.delim)
	if err != nil {
		return v, usageError("%s: %v", path, err)
	}
	rw, err := newRejectWriter(rejectsPath, p.cfg.format, rr.header, p.cfg.delim)
	if err != nil {
		return v, err
	}
	seen := keySet{}
	err = p.each(ctx, rr, seen, func(r row, key, id string, body []byte, reason error) error {
		v.rows++
		if v.rows%1024 == 0 {
			bar.set(rr.read.n.Load())
		}
		if reason != nil {
			v.rejected++
			v.rejectedLines = append(v.rejectedLines, r.line)
			if len(v.examples) < 5 {
				v.examples = append(v.examples, fmt.Sprintf("line %d: %v", r.line, reason))
			}
			return rw.write(r, reason)
		}
		v.valid++
		if v.first == nil {
			v.first, v.firstID = slices.Clone(body), id
		}
		return nil
	})
	v.blank = rr.blank
	if err == nil {
		bar.set(rr.read.n.Load())
		bar.finish()
	} else {
		bar.abort()
	}
	if cerr := rw.close(); err == nil && cerr != nil {
		err = fmt.Errorf("rejects file: %w", cerr)
	}
	return v, err
}

// each reads every row and calls fn with its command or the reason it is
// rejected. Both passes go through it, so they agree row for row; with seen
// nil (pass 2) duplicates are not looked for.
func (p *plan) each(ctx context.Context, rr *rowReader, seen keySet, fn func(r row, key, id string, body []byte, reason error) error) error {
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		r, err := rr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading rows: %w", err)
		}
		key, id, body, reason := p.build(&r)
		if reason == nil && seen != nil {
			h := recipientHash(key)
			if first, dup := seen[h]; dup {
				reason = fmt.Errorf("duplicate recipient %s: line %d has it already", key, first)
			} else {
				seen[h] = int32(min(r.line, 1<<31-1))
			}
		}
		if err := fn(r, key, id, body, reason); err != nil {
			return err
		}
	}
}

type produceConfig struct {
	file      string
	pass1     validation
	client    *kgo.Client
	topic     string
	state     *stateFile
	limiter   *rate.Limiter
	expiresIn time.Duration
	bar       progress
}

type produceResult struct {
	produced, skipped int
}

// errFileChanged: the file is not the one pass 1 validated.
var errFileChanged = errors.New("the file changed since it was validated; run again")

// produce is pass 2: every valid row not produced before goes out as a
// command; each acknowledged command is added to the progress file. The
// rows pass 1 rejected are skipped by line, so pass 2 keeps no set of the
// file's recipients: memory holds only those produced by earlier runs.
func (p *plan) produce(ctx context.Context, cfg produceConfig) (produceResult, error) {
	var res produceResult
	f, err := os.Open(cfg.file)
	if err != nil {
		return res, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() != cfg.pass1.size || !st.ModTime().Equal(cfg.pass1.modTime) {
		return res, errFileChanged
	}
	rr, err := newRowReader(f, p.cfg.format, p.cfg.delim)
	if err != nil {
		return res, err
	}
	var (
		mu       sync.Mutex
		firstErr error
		acked    atomic.Int64
	)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rejected := cfg.pass1.rejectedLines
	err = p.each(pctx, rr, nil, func(r row, key, id string, body []byte, reason error) error {
		if len(rejected) > 0 && rejected[0] == r.line {
			rejected = rejected[1:]
			return nil
		}
		if reason != nil {
			return errFileChanged
		}
		if cfg.state.has(key) {
			res.skipped++
			cfg.bar.add(1)
			return nil
		}
		if cfg.limiter != nil {
			if err := cfg.limiter.Wait(pctx); err != nil {
				return err
			}
		}
		headers := []kgo.RecordHeader{
			{Key: outbound.HeaderCommandID, Value: []byte(id)},
			{Key: "bulk-campaign", Value: []byte(p.cfg.campaign)},
		}
		if p.cfg.businessNumber != "" {
			headers = append(headers, kgo.RecordHeader{Key: outbound.HeaderBusinessNumber, Value: []byte(p.cfg.businessNumber)})
		}
		if cfg.expiresIn > 0 {
			headers = append(headers, kgo.RecordHeader{Key: outbound.HeaderExpiresAt, Value: []byte(strconv.FormatInt(time.Now().Add(cfg.expiresIn).UnixMilli(), 10))})
		}
		rec := &kgo.Record{Topic: cfg.topic, Key: []byte(key), Value: body, Headers: headers}
		cfg.client.Produce(pctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("producing the command of %s: %w", key, err)
				}
				mu.Unlock()
				cancel()
				return
			}
			cfg.state.add(key)
			acked.Add(1)
			cfg.bar.add(1)
		})
		mu.Lock()
		ferr := firstErr
		mu.Unlock()
		return ferr
	})
	// Wait for what is in flight; after Ctrl-C give it a few seconds.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	ferr := cfg.client.Flush(fctx)
	fcancel()
	if err == nil && ferr == nil {
		cfg.bar.finish()
	} else {
		cfg.bar.abort()
	}
	if serr := cfg.state.sync(); serr != nil && err == nil {
		err = serr
	}
	mu.Lock()
	if firstErr != nil {
		err = firstErr
	}
	mu.Unlock()
	if err == nil && ferr != nil {
		err = fmt.Errorf("waiting for Kafka to acknowledge the commands: %w", ferr)
	}
	res.produced = int(acked.Load())
	return res, err
}

// The progress file.

type stateHeader struct {
	Campaign  string    `json:"campaign"`
	Template  string    `json:"template"`
	Language  string    `json:"language"`
	Input     string    `json:"input"`
	StartedAt time.Time `json:"started_at"`
}

// stateFile is the campaign's progress file: a JSON header line, then one
// recipient per line, appended when Kafka acknowledged its command. A lock
// file beside it keeps two runs of one campaign apart.
type stateFile struct {
	path    string
	header  stateHeader
	done    keySet
	loaded  int
	pending []string // found in the command topic only; written by writeHeader

	mu        sync.Mutex
	f         *os.File
	w         *bufio.Writer
	lastFlush time.Time
	lock      string
}

func openState(path string, want stateHeader) (*stateFile, error) {
	st := &stateFile{path: path, header: want, done: keySet{}, lock: path + ".lock"}
	if err := st.takeLock(); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(path); err == nil {
		first, rest, _ := bytes.Cut(b, []byte("\n"))
		var h stateHeader
		if err := json.Unmarshal(first, &h); err != nil {
			st.releaseLock()
			return nil, fmt.Errorf("progress file %s is not one of wabridge bulk (%v); move it away or name another with --state", path, err)
		}
		if h.Campaign != want.Campaign {
			st.releaseLock()
			return nil, fmt.Errorf("progress file %s belongs to campaign %q, not %q; name another with --state", path, h.Campaign, want.Campaign)
		}
		st.header.StartedAt = h.StartedAt
		for _, line := range bytes.Split(rest, []byte("\n")) {
			if k := strings.TrimSpace(string(line)); k != "" {
				st.done[recipientHash(k)] = 0
				st.loaded++
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		st.releaseLock()
		return nil, fmt.Errorf("progress file: %w", err)
	}
	return st, nil
}

// readStateKeys reads the recipients of a progress file into a set.
func readStateKeys(path string) (map[uint64]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("progress file: %w", err)
	}
	defer f.Close()
	out := map[uint64]bool{}
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		if k := strings.TrimSpace(sc.Text()); k != "" && !first {
			out[recipientHash(k)] = false
		}
	}
	return out, sc.Err()
}

// writeHeader rewrites the file with the header and the recipients known
// so far (from the file and the command topic), then keeps it open to
// append.
func (st *stateFile) writeHeader() error {
	tmp := st.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("progress file: %w", err)
	}
	w := bufio.NewWriter(f)
	h, _ := json.Marshal(st.header)
	w.Write(append(h, '\n'))
	if b, err := os.ReadFile(st.path); err == nil {
		if _, rest, ok := bytes.Cut(b, []byte("\n")); ok {
			w.Write(rest)
			if len(rest) > 0 && rest[len(rest)-1] != '\n' {
				w.WriteByte('\n')
			}
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("progress file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("progress file: %w", err)
	}
	f.Close()
	if err := os.Rename(tmp, st.path); err != nil {
		return fmt.Errorf("progress file: %w", err)
	}
	st.f, err = os.OpenFile(st.path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("progress file: %w", err)
	}
	st.w = bufio.NewWriterSize(st.f, 64<<10)
	// Recipients found only in the command topic are added as well.
	for _, k := range st.pending {
		st.w.WriteString(k + "\n")
	}
	st.pending = nil
	return nil
}

// has reports whether key was produced by an earlier run. done is not
// written while a pass runs.
func (st *stateFile) has(key string) bool {
	_, ok := st.done[recipientHash(key)]
	return ok
}

// add records an acknowledged recipient (called from producer callbacks).
func (st *stateFile) add(key string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.w.WriteString(key)
	st.w.WriteByte('\n')
	if time.Since(st.lastFlush) > time.Second {
		st.w.Flush()
		st.lastFlush = time.Now()
	}
}

// sync flushes and syncs the file.
func (st *stateFile) sync() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.w == nil {
		return nil
	}
	if err := st.w.Flush(); err != nil {
		return fmt.Errorf("progress file: %w", err)
	}
	return st.f.Sync()
}

func (st *stateFile) close() {
	_ = st.sync()
	if st.f != nil {
		st.f.Close()
	}
	st.releaseLock()
}

type lockInfo struct {
	PID  int       `json:"pid"`
	Host string    `json:"host"`
	At   time.Time `json:"at"`
}

// takeLock creates the lock file; a lock left by a process of this host
// that is gone is taken over.
func (st *stateFile) takeLock() error {
	host, _ := os.Hostname()
	me, _ := json.Marshal(lockInfo{PID: os.Getpid(), Host: host, At: time.Now().UTC()})
	for attempt := 0; attempt < 2; attempt++ {
		f, err := os.OpenFile(st.lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = f.Write(me)
			f.Close()
			return err
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("lock file: %w", err)
		}
		b, _ := os.ReadFile(st.lock)
		var other lockInfo
		_ = json.Unmarshal(b, &other)
		if other.Host == host && other.PID > 0 && !processAlive(other.PID) {
			_ = os.Remove(st.lock) // its owner is gone (a crash)
			continue
		}
		return fmt.Errorf("another run of this campaign holds %s (pid %d on %s since %s); if it is gone, delete the file", st.lock, other.PID, other.Host, other.At.Format(time.RFC3339))
	}
	return fmt.Errorf("could not take the lock %s", st.lock)
}

func (st *stateFile) releaseLock() { _ = os.Remove(st.lock) }

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	if runtime.GOOS == "windows" {
		return true // FindProcess opened it: it exists
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM)
}

// Scanning the command topic.

type scanResult struct {
	found, added int
	earliest     time.Time
}

// scanCampaign reads the command topic from since to its current end and
// adds every recipient of a command whose id starts with prefix to done.
func scanCampaign(ctx context.Context, brokers []string, cl *kgo.Client, topic, prefix string, since time.Time, st *stateFile) (scanResult, error) {
	var res scanResult
	adm := kadm.NewClient(cl)
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	starts, err := adm.ListOffsetsAfterMilli(sctx, since.UnixMilli(), topic)
	if err == nil {
		err = starts.Error()
	}
	var ends kadm.ListedOffsets
	if err == nil {
		ends, err = adm.ListEndOffsets(sctx, topic)
		if err == nil {
			err = ends.Error()
		}
	}
	cancel()
	if err != nil {
		return res, fmt.Errorf("offsets of %s: %w", topic, err)
	}
	from := map[int32]kgo.Offset{}
	remaining := map[int32]int64{} // partition → end offset still to reach
	starts.Each(func(o kadm.ListedOffset) {
		end, _ := ends.Lookup(topic, o.Partition)
		if o.Offset < end.Offset {
			from[o.Partition] = kgo.NewOffset().At(o.Offset)
			remaining[o.Partition] = end.Offset
		}
	})
	if len(from) == 0 {
		return res, nil
	}
	reader, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		return res, err
	}
	defer reader.Close()
	for len(remaining) > 0 {
		fs := reader.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("reading %s/%d: %w", t, p, err) })
		if ferr != nil {
			return res, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if r.Offset >= end-1 {
				delete(remaining, r.Partition)
			}
			id := recordHeader(r, outbound.HeaderCommandID)
			if !strings.HasPrefix(id, prefix) {
				return
			}
			res.found++
			if res.earliest.IsZero() || r.Timestamp.Before(res.earliest) {
				res.earliest = r.Timestamp
			}
			key := id[len(prefix):]
			h := recipientHash(key)
			if _, ok := st.done[h]; !ok {
				st.done[h] = 0
				st.pending = append(st.pending, key)
				res.added++
			}
		})
	}
	return res, nil
}

// Progress.

// progress shows how far a pass is: a progress bar with rate and ETA on a
// terminal, else a line every 10 s.
type progress interface {
	setMax(n int64)
	set(n int64)
	add(n int)
	describe(s string)
	finish() // done: the bar shows 100 %
	abort()  // stopped early: the bar stays where it is
}

func (c *BulkCmd) progress(g *Globals, what string, total int64) progress {
	mode := c.Progress
	if mode == "auto" {
		mode = "lines"
		if f, ok := g.Stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "always"
		}
	}
	switch mode {
	case "never":
		return noProgress{}
	case "lines":
		return &lineProgress{w: g.Stderr, what: what, max: total, start: time.Now(), bytes: total < 0}
	}
	bytesMode := total < 0
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(g.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(200 * time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(g.Stderr) }),
	}
	if bytesMode {
		opts = append(opts, progressbar.OptionShowBytes(true))
		total = 1
	} else {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"))
	}
	return &barProgress{bar: progressbar.NewOptions64(total, opts...), w: g.Stderr}
}

type noProgress struct{}

func (noProgress) setMax(int64)    {}
func (noProgress) set(int64)       {}
func (noProgress) add(int)         {}
func (noProgress) describe(string) {}
func (noProgress) finish()         {}
func (noProgress) abort()          {}

type barProgress struct {
	bar *progressbar.ProgressBar
	w   io.Writer
}

func (b *barProgress) setMax(n int64)    { b.bar.ChangeMax64(n) }
func (b *barProgress) set(n int64)       { _ = b.bar.Set64(n) }
func (b *barProgress) add(n int)         { _ = b.bar.Add(n) }
func (b *barProgress) describe(s string) { b.bar.Describe(s) }
func (b *barProgress) finish()           { _ = b.bar.Finish() }
func (b *barProgress) abort()            { _ = b.bar.Exit(); fmt.Fprintln(b.w) }

// lineProgress prints a status line every 10 s (logs, CI, pipes).
type lineProgress struct {
	w     io.Writer
	what  string
	bytes bool

	mu    sync.Mutex
	max   int64
	n     int64
	desc  string
	start time.Time
	last  time.Time
}

func (l *lineProgress) setMax(n int64) { l.mu.Lock(); l.max = n; l.mu.Unlock() }
func (l *lineProgress) set(n int64)    { l.mu.Lock(); l.n = n; l.tick(); l.mu.Unlock() }
func (l *lineProgress) add(n int)      { l.mu.Lock(); l.n += int64(n); l.tick(); l.mu.Unlock() }
func (l *lineProgress) describe(s string) {
	l.mu.Lock()
	l.desc = s
	l.mu.Unlock()
}
func (l *lineProgress) finish() {}
func (l *lineProgress) abort()  {}

func (l *lineProgress) tick() {
	if time.Since(l.last) < 10*time.Second {
		return
	}
	if l.last.IsZero() {
		l.last = time.Now()
		return
	}
	l.last = time.Now()
	el := time.Since(l.start).Seconds()
	unit := "rows"
	if l.bytes {
		unit = "bytes"
	}
	line := fmt.Sprintf("%s: %d/%d %s (%.0f/s)", l.what, l.n, l.max, unit, float64(l.n)/el)
	if l.n > 0 && l.max > l.n {
		line += fmt.Sprintf(", about %s left", (time.Duration(float64(l.max-l.n)/float64(l.n)*el) * time.Second).Round(time.Second))
	}
	if l.desc != "" {
		line += "; " + l.desc
	}
	fmt.Fprintln(l.w, line)
}

// Following the results.

// campaignSummary counts the campaign's results.
type campaignSummary struct {
	accepted int
	rejected map[string]int // by reason
	failed   map[string]int // by "code title" or reason
}

func (s *campaignSummary) add(r sendResult) {
	switch r.Outcome {
	case "accepted":
		s.accepted++
	case "rejected":
		s.rejected[r.Reason]++
	default:
		k := r.Reason
		if r.Code != 0 {
			k = fmt.Sprintf("%d %s", r.Code, r.Title)
		}
		s.failed[k]++
	}
}

func (s *campaignSummary) String() string {
	count := func(m map[string]int) (int, string) {
		total := 0
		keys := make([]string, 0, len(m))
		for k, n := range m {
			total += n
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return m[b] - m[a] })
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
		}
		if len(parts) == 0 {
			return 0, ""
		}
		return total, " (" + strings.Join(parts, ", ") + ")"
	}
	nr, rs := count(s.rejected)
	nf, fs := count(s.failed)
	return fmt.Sprintf("accepted %d, rejected %d%s, failed %d%s", s.accepted, nr, rs, nf, fs)
}

// wait follows the results topic from the campaign's start until every
// recipient produced (in this run or before) has a result.
func (c *BulkCmd) wait(ctx context.Context, g *Globals, brokers []string, p *plan, st *stateFile) error {
	// Every recipient produced so far, by this run or earlier ones: the
	// progress file lists them all (it was synced after producing).
	st.done = nil
	expected, err := readStateKeys(st.path)
	if err != nil {
		return err
	}
	// Results of earlier runs of the campaign count too: read from its start.
	follow, err := newResultFollower(ctx, brokers, c.ResultsTopic, c.registryFlags, st.header.StartedAt.Add(-time.Minute), g.Logger)
	if err != nil {
		return err
	}
	defer follow.Close()
	var report *csv.Writer
	if c.Report != "" {
		f, err := os.Create(c.Report)
		if err != nil {
			return fmt.Errorf("report file: %w", err)
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		report = csv.NewWriter(bw)
		defer report.Flush()
		_ = report.Write([]string{"recipient", "command_id", "outcome", "message_id", "reason", "code", "title", "details"})
	}
	sum := &campaignSummary{rejected: map[string]int{}, failed: map[string]int{}}
	bar := c.progress(g, "results", int64(len(expected)))
	wctx := ctx
	if c.WaitTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, c.WaitTimeout)
		defer cancel()
	}
	missing := len(expected)
	fmt.Fprintf(g.Stderr, "waiting for the results of %d commands on %s\n", missing, c.ResultsTopic)
	for missing > 0 {
		res, err := follow.Next(wctx, func(id string) bool { return strings.HasPrefix(id, p.idPrefix) })
		if err != nil {
			break
		}
		key := strings.TrimPrefix(res.CommandID, p.idPrefix)
		h := recipientHash(key)
		got, known := expected[h]
		if got {
			continue // a duplicate result (results are at least once)
		}
		expected[h] = true
		if known {
			missing--
		}
		sum.add(res)
		bar.add(1)
		bar.describe(sum.String())
		if report != nil {
			code := ""
			if res.Code != 0 {
				code = strconv.Itoa(res.Code)
			}
			_ = report.Write([]string{key, res.CommandID, res.Outcome, res.MessageID, res.Reason, code, res.Title, res.Details})
		}
	}
	if missing == 0 {
		bar.finish()
	} else {
		bar.abort()
	}
	fmt.Fprintf(g.Stdout, "campaign %s: %s", c.Campaign, sum.String())
	if missing > 0 {
		fmt.Fprintf(g.Stdout, "; no result yet for %d", missing)
	}
	fmt.Fprintln(g.Stdout)
	switch {
	case ctx.Err() != nil:
		return &exitError{code: 1, err: errors.New("interrupted while waiting for results")}
	case missing > 0:
		return &exitError{code: 1, err: fmt.Errorf("%d commands have no result after %s (is the outbound half running?)", missing, c.WaitTimeout)}
	case len(sum.rejected)+len(sum.failed) > 0:
		return &exitError{code: 1, err: errors.New("some commands were not accepted (see the summary)")}
	}
	return nil
}
