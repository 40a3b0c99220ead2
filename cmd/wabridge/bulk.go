package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/wabridge/wabridge/internal/campaign"
	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/follow"
	"github.com/wabridge/wabridge/internal/kafkaio"
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

	KafkaFlags    `embed:""`
	Topic         string `env:"WABRIDGE_TOPIC_COMMANDS" default:"wabridge.commands" help:"Command topic."`
	ResultsTopic  string `env:"WABRIDGE_TOPIC_RESULTS" default:"wabridge.results" help:"Results topic (--wait)."`
	registryFlags `embed:""`
	API           APIFlags `embed:""`
}

// Help is shown by --help.
func (BulkCmd) Help() string {
	return `Sends one template message per row of a contact list. First every row is validated (recipient format, duplicate recipients, each parameter's value, and the mapping against the template from the account's catalogue when D360_API_KEY is set, else against --template-def); rejected rows go to the rejects file with their line and reason. Then one command per valid row is produced with the id bulk:CAMPAIGN:RECIPIENT. Re-running the same campaign (after a crash, Ctrl-C, or with a corrected file) skips every recipient already produced: they are read from the progress file and from the command topic itself before anything is produced. Exit code 0 when every row went out (and, with --wait, was accepted); 1 when rows were rejected (with or without --wait, and in a dry run; --max-rejects -1 only lets the valid rows go out), results failed or the wait timed out; 2 for usage errors.

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
	var conn kafkaio.Conn
	if !c.DryRun {
		var err error
		if conn, err = c.conn(g); err != nil {
			return err
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
	cols, err := campaign.Columns(c.File, format, delim)
	if err != nil {
		return usageError("%v", err)
	}
	p, err := campaign.NewPlan(campaign.PlanConfig{
		Campaign: c.Campaign, Template: c.Template, Language: c.Language,
		Format: format, Delim: delim, Mapping: m, Columns: cols, Spec: spec,
		BusinessNumber: c.BusinessNumber,
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
	v, err := p.Validate(ctx, c.File, rejectsPath, c.progress(g, "validating", -1))
	var ue *campaign.UsageError
	if errors.As(err, &ue) {
		return usageError("%v", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(g.Stderr, "%s: %d rows, %d valid, %d rejected", c.File, v.Rows, v.Valid, v.Rejected)
	if v.Blank > 0 {
		fmt.Fprintf(g.Stderr, ", %d blank lines skipped", v.Blank)
	}
	fmt.Fprintf(g.Stderr, " (validated in %s)\n", time.Since(t0).Round(time.Millisecond))
	if v.Rejected > 0 {
		fmt.Fprintf(g.Stderr, "rejected rows with their reasons: %s\n", rejectsPath)
		for _, ex := range v.Examples {
			fmt.Fprintf(g.Stderr, "  %s\n", ex)
		}
	} else {
		_ = os.Remove(rejectsPath) // no stale rejects from an earlier run
	}
	tooMany := c.MaxRejects >= 0 && v.Rejected > c.MaxRejects
	if c.DryRun {
		if v.First != nil {
			var pretty bytes.Buffer
			_ = json.Indent(&pretty, v.First, "", "  ")
			fmt.Fprintf(g.Stdout, "first command (id %s):\n%s\n", v.FirstID, pretty.String())
		}
		fmt.Fprintf(g.Stdout, "dry run: %d commands would be produced to %s\n", v.Valid, c.Topic)
		switch {
		case tooMany:
			return &exitError{code: exitFailure, err: fmt.Errorf("%d rows rejected (more than --max-rejects %d): fix them or raise --max-rejects", v.Rejected, c.MaxRejects)}
		case v.Rejected > 0:
			// As the real run would: rows rejected exit 1.
			return &exitError{code: exitFailure, err: fmt.Errorf("%d rows rejected (see %s)", v.Rejected, rejectsPath)}
		}
		return nil
	}
	if tooMany {
		return &exitError{code: exitFailure, err: fmt.Errorf("%d rows rejected (more than --max-rejects %d); nothing was produced: fix the rows in %s, or pass --max-rejects -1 to send the valid ones", v.Rejected, c.MaxRejects, rejectsPath)}
	}
	if v.Valid == 0 {
		return &exitError{code: exitFailure, err: errors.New("no valid row; nothing to produce")}
	}

	statePath := c.State
	if statePath == "" {
		statePath = c.Campaign + ".bulk-state"
	}
	st, err := campaign.OpenState(statePath, campaign.StateHeader{Campaign: c.Campaign, Template: c.Template, Language: c.Language, Input: c.File})
	if err != nil {
		return err
	}
	defer st.Close()
	if st.Loaded > 0 {
		fmt.Fprintf(g.Stderr, "progress file %s: %d recipients already produced (campaign started %s)\n", statePath, st.Loaded, st.Header.StartedAt.Format(time.RFC3339))
	}

	prod, err := newCommandProducer(ctx, conn, c.Topic, kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(5_000))
	if err != nil {
		return err
	}
	defer prod.Close()

	// The command topic is the record of what was produced: a crash can
	// lose the progress file's last lines, never an acknowledged record.
	since := time.Now().Add(-c.ScanSince)
	if !st.Header.StartedAt.IsZero() && st.Loaded > 0 {
		since = st.Header.StartedAt.Add(-5 * time.Minute)
	}
	scan, err := campaign.Scan(ctx, conn, c.Topic, p.IDPrefix(), since, st)
	if err != nil {
		return err
	}
	if scan.Found > 0 {
		fmt.Fprintf(g.Stderr, "command topic %s: %d commands of campaign %s already there (%d not in the progress file)\n", c.Topic, scan.Found, c.Campaign, scan.Added)
	}
	if st.Header.StartedAt.IsZero() || (!scan.Earliest.IsZero() && scan.Earliest.Before(st.Header.StartedAt)) {
		st.Header.StartedAt = time.Now().UTC()
		if !scan.Earliest.IsZero() {
			st.Header.StartedAt = scan.Earliest.UTC()
		}
	}
	if err := st.WriteHeader(); err != nil {
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
	pr, err := p.Produce(ctx, campaign.ProduceConfig{
		File: c.File, Pass1: v, Client: prod, Topic: c.Topic, State: st, Limiter: limiter,
		ExpiresIn: c.ExpiresIn, Bar: c.progress(g, "producing", int64(v.Valid)),
	})
	elapsed := time.Since(t0)
	fmt.Fprintf(g.Stderr, "produced %d commands to %s in %s", pr.Produced, c.Topic, elapsed.Round(time.Millisecond))
	if s := elapsed.Seconds(); s > 0 && pr.Produced > 0 {
		fmt.Fprintf(g.Stderr, " (%.0f/s)", float64(pr.Produced)/s)
	}
	fmt.Fprintf(g.Stderr, "; %d skipped, produced before\n", pr.Skipped)
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: exitFailure, err: fmt.Errorf("interrupted after %d commands; run the same command again to continue: nobody already produced gets a second message", pr.Produced)}
		}
		return fmt.Errorf("%w; run the same command again to continue: nobody already produced gets a second message", err)
	}
	if !c.Wait {
		if v.Rejected > 0 {
			return &exitError{code: exitFailure, err: fmt.Errorf("%d rows rejected (see %s)", v.Rejected, rejectsPath)}
		}
		return nil
	}
	return c.wait(ctx, g, conn, p, st, v.Rejected, rejectsPath)
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

func (c *BulkCmd) mapping() (campaign.Mapping, error) {
	m := campaign.Mapping{Params: map[string]string{}, Set: map[string]string{}}
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

// progress is the progress display of a pass (--progress).
func (c *BulkCmd) progress(g *Globals, what string, total int64) campaign.Progress {
	return newProgress(c.Progress, g.Stderr, what, total)
}

// wait follows the results topic from the campaign's start until every
// recipient produced (in this run or before) has a result, then prints the
// summary, which counts the rows rejected before producing too.
func (c *BulkCmd) wait(ctx context.Context, g *Globals, conn kafkaio.Conn, p *campaign.Plan, st *campaign.State, rejectedRows int, rejectsPath string) error {
	// Every recipient produced so far, by this run or earlier ones.
	expected, err := st.Produced()
	if err != nil {
		return err
	}
	dec, err := c.decoder()
	if err != nil {
		return err
	}
	// Results of earlier runs of the campaign count too: read from its start.
	results, err := follow.Open(ctx, follow.Config{Conn: conn, Topics: []string{c.ResultsTopic}, Start: follow.At(st.Header.StartedAt.Add(-time.Minute))})
	if err != nil {
		return fmt.Errorf("results topic: %w", err)
	}
	defer results.Close()
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
	sum := campaign.NewSummary(rejectedRows)
	bar := c.progress(g, "results", int64(len(expected)))
	wctx := ctx
	if c.WaitTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, c.WaitTimeout)
		defer cancel()
	}
	missing := len(expected)
	fmt.Fprintf(g.Stderr, "waiting for the results of %d commands on %s\n", missing, c.ResultsTopic)
	prefix := p.IDPrefix()
	var readErr error
	for missing > 0 {
		res, err := results.NextResult(wctx, dec, func(id string) bool { return strings.HasPrefix(id, prefix) })
		if err != nil {
			if wctx.Err() == nil {
				readErr = err // not the end of the wait: a result that cannot be read
			}
			break
		}
		key := strings.TrimPrefix(res.CommandID, prefix)
		h := campaign.RecipientHash(key)
		got, known := expected[h]
		if got {
			continue // a duplicate result (results are at least once)
		}
		expected[h] = true
		if known {
			missing--
		}
		sum.Add(res)
		bar.Describe(sum.String())
		bar.Add(1)
		if report != nil {
			code := ""
			if res.Code != 0 {
				code = strconv.Itoa(res.Code)
			}
			_ = report.Write([]string{key, res.CommandID, res.Outcome, res.MessageID, res.Reason, code, res.Title, res.Details})
		}
	}
	if missing == 0 {
		bar.Finish()
	} else {
		bar.Abort()
	}
	line := fmt.Sprintf("campaign %s: %s", c.Campaign, sum.String())
	if missing > 0 {
		line += fmt.Sprintf("; no result yet for %d", missing)
	}
	fmt.Fprintln(g.Stdout, line)
	switch {
	case readErr != nil:
		return fmt.Errorf("reading the results: %w", readErr)
	case ctx.Err() != nil:
		return &exitError{code: exitFailure, err: errors.New("interrupted while waiting for results")}
	case missing > 0:
		return &exitError{code: exitFailure, err: fmt.Errorf("%d commands have no result after %s (is the outbound half running?)", missing, c.WaitTimeout)}
	case rejectedRows > 0 && sum.AllAcceptedBut(rejectedRows):
		return &exitError{code: exitFailure, err: fmt.Errorf("%d rows rejected (see %s); every command produced was accepted", rejectedRows, rejectsPath)}
	case !sum.AllAccepted():
		return &exitError{code: exitFailure, err: errors.New("some commands were not accepted (see the summary)")}
	}
	return nil
}
