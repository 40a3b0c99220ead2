package campaign

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/outbound"
)

// RecipientColumns are tried in order when the mapping names no recipient
// column.
// RecipientColumns are tried in order when --to-column is not given.
var RecipientColumns = []string{"phone", "to", "wa_id", "recipient", "msisdn", "mobile", "phone_number"}

// Mapping is where each parameter's value comes from.
type Mapping struct {
	To     string            `json:"to"`
	Params map[string]string `json:"params"`
	Set    map[string]string `json:"set"`
}

// PlanConfig says how rows become commands.
type PlanConfig struct {
	Campaign, Template, Language string
	Format                       string // csv or jsonl
	Delim                        rune   // CSV field delimiter
	Mapping                      Mapping
	Columns                      []string // CSV header (Columns)
	// Spec is what the template takes, when known (catalogue or a
	// definition file): the mapping is checked against it.
	Spec           *d360.TemplateParams
	BusinessNumber string
}

type Plan struct {
	cfg      PlanConfig
	idPrefix string
	shape    *Shape
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

func NewPlan(cfg PlanConfig) (*Plan, error) {
	p := &Plan{cfg: cfg, idPrefix: "bulk:" + cfg.Campaign + ":"}
	type src struct {
		slot  Slot
		col   string
		value string
		isSet bool
	}
	var srcs []src
	for _, k := range slices.Sorted(maps.Keys(cfg.Mapping.Params)) {
		sl, err := mappedSlot(k)
		if err != nil {
			return nil, err
		}
		if cfg.Mapping.Params[k] == "" {
			return nil, fmt.Errorf("%s: no column given", k)
		}
		srcs = append(srcs, src{slot: sl, col: cfg.Mapping.Params[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Mapping.Set)) {
		sl, err := mappedSlot(k)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src{slot: sl, value: cfg.Mapping.Set[k], isSet: true})
	}
	slots := make([]Slot, len(srcs))
	for i, s := range srcs {
		slots[i] = s.slot
	}
	shape, err := NewShape(slots, cfg.Spec)
	if err != nil {
		return nil, fmt.Errorf("mapping does not fit template %s (%s): %v", cfg.Template, cfg.Language, err)
	}
	p.shape = shape

	// Columns.
	toCol := cfg.Mapping.To
	if toCol == "" {
		if cfg.Format == "csv" {
			for _, want := range RecipientColumns {
				if i := findColumn(cfg.Columns, want); i >= 0 {
					toCol = cfg.Columns[i]
					break
				}
			}
		} else {
			toCol = "phone"
		}
		if toCol == "" {
			return nil, fmt.Errorf("no recipient column: name it with --to-column (the file has %s; tried %s)", strings.Join(cfg.Columns, ", "), strings.Join(RecipientColumns, ", "))
		}
	}
	colID := func(name string) (int, error) {
		if i := slices.Index(p.cols, name); i >= 0 {
			return i, nil
		}
		if cfg.Format == "csv" {
			i := findColumn(cfg.Columns, name)
			if i < 0 {
				return 0, fmt.Errorf("unknown column %q: the header has %s%s", name, strings.Join(cfg.Columns, ", "), suggestColumn(cfg.Columns, name))
			}
			if j := findColumn(cfg.Columns[i+1:], name); j >= 0 {
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
			if err := shape.CheckValue(i, s.value); err != nil {
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
func mappedSlot(k string) (Slot, error) {
	sl, ok, err := ParseSlot(k)
	if err == nil && !ok {
		err = fmt.Errorf("%q is not a slot: want body.N, body.NAME, header or button.N, optionally with :TYPE", k)
	}
	if err != nil {
		return Slot{}, err
	}
	if sl.comp == "body" && !sl.given {
		return Slot{}, fmt.Errorf("%s: say which body parameter, e.g. body.1 or body.first_name", k)
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
func (p *Plan) values(r *row) error {
	if r.err != nil {
		return r.err
	}
	if p.cfg.Format == "csv" {
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
func (p *Plan) build(r *row) (key, id string, body []byte, err error) {
	if err := p.values(r); err != nil {
		return "", "", nil, err
	}
	to := strings.TrimSpace(r.fields[p.to])
	if to == "" {
		return "", "", nil, fmt.Errorf("column %q (recipient) is empty", p.cols[p.to])
	}
	body, err = p.shape.Command(p.cfg.Template, p.cfg.Language, to, func(i int) string {
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

// explain names the column behind a command Validation error.
func (p *Plan) explain(err error) error {
	var ie *outbound.InvalidError
	if !errors.As(err, &ie) {
		// Shape errors start with the slot: name the column too.
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

func RecipientHash(key string) uint64 {
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

// Validation is what pass 1 found.
type Validation struct {
	Rows, Valid, Rejected, Blank int
	// First is the first valid row's command, FirstID its id.
	First   []byte
	FirstID string
	// rejectedLines are the lines of rejected rows, ascending: pass 2
	// skips them instead of keeping a set of every recipient again.
	rejectedLines []int
	// size and modTime identify the file pass 1 read.
	size    int64
	modTime time.Time
	// Examples are the first rejected rows with their reasons.
	Examples []string
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
func (p *Plan) Validate(ctx context.Context, path, rejectsPath string, bar Progress) (Validation, error) {
	var v Validation
	f, err := os.Open(path)
	if err != nil {
		return v, usageError("%v", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		bar.SetMax(st.Size())
		v.size, v.modTime = st.Size(), st.ModTime()
	}
	rr, err := newRowReader(f, p.cfg.Format, p.cfg.Delim)
	if err != nil {
		return v, usageError("%s: %v", path, err)
	}
	rw, err := newRejectWriter(rejectsPath, p.cfg.Format, rr.header, p.cfg.Delim)
	if err != nil {
		return v, err
	}
	seen := keySet{}
	err = p.each(ctx, rr, seen, func(r row, key, id string, body []byte, reason error) error {
		v.Rows++
		if v.Rows%1024 == 0 {
			bar.Set(rr.read.n.Load())
		}
		if reason != nil {
			v.Rejected++
			v.rejectedLines = append(v.rejectedLines, r.line)
			if len(v.Examples) < 5 {
				v.Examples = append(v.Examples, fmt.Sprintf("line %d: %v", r.line, reason))
			}
			return rw.write(r, reason)
		}
		v.Valid++
		if v.First == nil {
			v.First, v.FirstID = slices.Clone(body), id
		}
		return nil
	})
	v.Blank = rr.blank
	if err == nil {
		bar.Set(rr.read.n.Load())
		bar.Finish()
	} else {
		bar.Abort()
	}
	if cerr := rw.close(); err == nil && cerr != nil {
		err = fmt.Errorf("rejects file: %w", cerr)
	}
	return v, err
}

// each reads every row and calls fn with its command or the reason it is
// rejected. Both passes go through it, so they agree row for row; with seen
// nil (pass 2) duplicates are not looked for.
func (p *Plan) each(ctx context.Context, rr *rowReader, seen keySet, fn func(r row, key, id string, body []byte, reason error) error) error {
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
			h := RecipientHash(key)
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

// ProduceConfig says where pass 2 produces.
type ProduceConfig struct {
	File      string
	Pass1     Validation
	Client    *kgo.Client // an idempotent producer: no record written twice on a retry
	Topic     string
	State     *State
	Limiter   *rate.Limiter // nil: no limit
	ExpiresIn time.Duration // 0: no expires-at header
	Bar       Progress
}

// ProduceResult counts what pass 2 did.
type ProduceResult struct {
	Produced, Skipped int
}

// ErrFileChanged: the file is not the one pass 1 validated.
var ErrFileChanged = errors.New("the file changed since it was validated; run again")

// produce is pass 2: every valid row not produced before goes out as a
// command; each acknowledged command is added to the progress file. The
// rows pass 1 rejected are skipped by line, so pass 2 keeps no set of the
// file's recipients: memory holds only those produced by earlier runs.
func (p *Plan) Produce(ctx context.Context, cfg ProduceConfig) (ProduceResult, error) {
	var res ProduceResult
	f, err := os.Open(cfg.File)
	if err != nil {
		return res, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() != cfg.Pass1.size || !st.ModTime().Equal(cfg.Pass1.modTime) {
		return res, ErrFileChanged
	}
	rr, err := newRowReader(f, p.cfg.Format, p.cfg.Delim)
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
	rejected := cfg.Pass1.rejectedLines
	err = p.each(pctx, rr, nil, func(r row, key, id string, body []byte, reason error) error {
		if len(rejected) > 0 && rejected[0] == r.line {
			rejected = rejected[1:]
			return nil
		}
		if reason != nil {
			return ErrFileChanged
		}
		if cfg.State.has(key) {
			res.Skipped++
			cfg.Bar.Add(1)
			return nil
		}
		if cfg.Limiter != nil {
			if err := cfg.Limiter.Wait(pctx); err != nil {
				return err
			}
		}
		headers := []kgo.RecordHeader{
			{Key: outbound.HeaderCommandID, Value: []byte(id)},
			{Key: "bulk-campaign", Value: []byte(p.cfg.Campaign)},
		}
		if p.cfg.BusinessNumber != "" {
			headers = append(headers, kgo.RecordHeader{Key: outbound.HeaderBusinessNumber, Value: []byte(p.cfg.BusinessNumber)})
		}
		if cfg.ExpiresIn > 0 {
			headers = append(headers, kgo.RecordHeader{Key: outbound.HeaderExpiresAt, Value: []byte(strconv.FormatInt(time.Now().Add(cfg.ExpiresIn).UnixMilli(), 10))})
		}
		rec := &kgo.Record{Topic: cfg.Topic, Key: []byte(key), Value: body, Headers: headers}
		cfg.Client.Produce(pctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("producing the command of %s: %w", key, err)
				}
				mu.Unlock()
				cancel()
				return
			}
			cfg.State.add(key)
			acked.Add(1)
			cfg.Bar.Add(1)
		})
		mu.Lock()
		ferr := firstErr
		mu.Unlock()
		return ferr
	})
	// Wait for what is in flight; after Ctrl-C give it a few seconds.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	ferr := cfg.Client.Flush(fctx)
	fcancel()
	if err == nil && ferr == nil {
		cfg.Bar.Finish()
	} else {
		cfg.Bar.Abort()
	}
	if serr := cfg.State.sync(); serr != nil && err == nil {
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
	res.Produced = int(acked.Load())
	return res, err
}

// IDPrefix is what every command id of the campaign starts with; the rest
// is the recipient's key.
func (p *Plan) IDPrefix() string { return p.idPrefix }
