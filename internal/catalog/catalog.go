// Package catalog keeps a cached copy of the account's template catalogue
// (360dialog's templates API, reference §14) so that template sends whose
// name, language or parameters cannot match an approved template are
// refused before the API answers 132000/132001/132015.
//
// A Catalog is loaded by Run (at once, then every Refresh) or by Refresh.
// Until the first load succeeds, Check lets everything through: the API
// still decides. After a failed refresh the last good copy stays in use.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wabridge/wabridge/internal/d360"
)

// Lister lists the account's templates. *d360.Client is one.
type Lister interface {
	ListTemplates(ctx context.Context) ([]d360.Template, error)
}

// Config configures a Catalog.
type Config struct {
	// Client lists the templates. Required.
	Client Lister
	// Refresh is the interval between loads in Run. Default: 5m.
	Refresh time.Duration
	// MinRefresh is the least time between two loads; a Refresh call
	// sooner than that after the last load does nothing. Default: 30s.
	MinRefresh time.Duration
	// Timeout of one load. Default: 30s.
	Timeout time.Duration
	// Logger; default: discard.
	Logger *slog.Logger
}

// Catalog is the cached catalogue. It is safe for concurrent use.
type Catalog struct {
	cfg Config

	loadMu sync.Mutex // one load at a time

	mu       sync.RWMutex
	byKey    map[key]d360.Template
	byName   map[string][]string // name → languages
	loadedAt time.Time
	lastTry  time.Time
}

type key struct{ name, language string }

// New checks cfg and returns an empty Catalog.
func New(cfg Config) (*Catalog, error) {
	if cfg.Client == nil {
		return nil, errors.New("catalog: no templates client")
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 5 * time.Minute
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = 30 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Catalog{cfg: cfg}, nil
}

// Run loads the catalogue at once and then every Refresh until ctx ends; it
// returns nil then. A failed load is logged and retried at the next tick
// (the last good copy stays in use).
func (c *Catalog) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Refresh)
	defer t.Stop()
	for {
		if err := c.load(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("template catalogue not refreshed; keeping the last copy", "err", err, "loaded_at", c.LoadedAt())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Refresh loads the catalogue now unless the last load (or failed try) was
// less than MinRefresh ago. Call it when Check reports an unknown template
// before refusing a send: the template may have been created since.
func (c *Catalog) Refresh(ctx context.Context) error {
	c.mu.RLock()
	recent := !c.lastTry.IsZero() && time.Since(c.lastTry) < c.cfg.MinRefresh
	c.mu.RUnlock()
	if recent {
		return nil
	}
	return c.load(ctx)
}

func (c *Catalog) load(ctx context.Context) error {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	c.mu.Lock()
	c.lastTry = time.Now()
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	list, err := c.cfg.Client.ListTemplates(ctx)
	if err != nil {
		return fmt.Errorf("loading the template catalogue: %w", err)
	}
	c.Set(list)
	c.cfg.Logger.Debug("template catalogue loaded", "templates", len(list))
	return nil
}

// Set replaces the catalogue with list (tests, and callers that already
// hold a list).
func (c *Catalog) Set(list []d360.Template) {
	byKey := make(map[key]d360.Template, len(list))
	byName := map[string][]string{}
	for _, t := range list {
		k := key{t.Name, t.Language}
		if _, dup := byKey[k]; !dup {
			byName[t.Name] = append(byName[t.Name], t.Language)
		}
		byKey[k] = t
	}
	for _, langs := range byName {
		slices.Sort(langs)
	}
	c.mu.Lock()
	c.byKey, c.byName, c.loadedAt = byKey, byName, time.Now()
	c.mu.Unlock()
}

// Loaded reports whether a load has succeeded.
func (c *Catalog) Loaded() bool { return !c.LoadedAt().IsZero() }

// LoadedAt is the time of the last successful load; zero before the first.
func (c *Catalog) LoadedAt() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.loadedAt
}

// Template returns the catalogue's entry for name and language.
func (c *Catalog) Template(name, language string) (d360.Template, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.byKey[key{name, language}]
	return t, ok
}

// Templates returns every entry, sorted by name and language.
func (c *Catalog) Templates() []d360.Template {
	c.mu.RLock()
	out := make([]d360.Template, 0, len(c.byKey))
	for _, t := range c.byKey {
		out = append(out, t)
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b d360.Template) int {
		if a.Name != b.Name {
			return strings.Compare(a.Name, b.Name)
		}
		return strings.Compare(a.Language, b.Language)
	})
	return out
}

// Category returns the category of the template (MARKETING, UTILITY,
// AUTHENTICATION), or "" when the catalogue does not know it.
func (c *Catalog) Category(name, language string) string {
	t, _ := c.Template(name, language)
	return strings.ToUpper(t.Category)
}

// Kind says why Check refused a send.
type Kind int

const (
	// UnknownName: no template of that name (API code 132001).
	UnknownName Kind = iota + 1
	// UnknownLanguage: the name exists, not in that language (132001).
	UnknownLanguage
	// NotApproved: the template is pending, rejected, paused or disabled
	// (132001, 132015, 132016).
	NotApproved
	// ParamMismatch: the parameters cannot fill the template (132000).
	ParamMismatch
)

func (k Kind) String() string {
	switch k {
	case UnknownName:
		return "unknown_template"
	case UnknownLanguage:
		return "unknown_template_language"
	case NotApproved:
		return "template_not_approved"
	case ParamMismatch:
		return "template_param_mismatch"
	}
	return "template_error"
}

// Error is Check's refusal.
type Error struct {
	Kind     Kind
	Name     string
	Language string
	// Detail says what does not match, e.g. "body takes 2 parameters, got 1".
	Detail string
}

func (e *Error) Error() string {
	return fmt.Sprintf("template %s (%s): %s", e.Name, e.Language, e.Detail)
}

// Is lets errors.Is(err, catalog.ErrUnknown) and friends match an *Error by
// kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Name == "" && t.Kind == e.Kind
}

// Sentinels for errors.Is.
var (
	ErrUnknownName     = &Error{Kind: UnknownName}
	ErrUnknownLanguage = &Error{Kind: UnknownLanguage}
	ErrNotApproved     = &Error{Kind: NotApproved}
	ErrParamMismatch   = &Error{Kind: ParamMismatch}
)

// Unknown reports whether err says the catalogue does not know the
// template or language: a Refresh may change the answer.
func Unknown(err error) bool {
	return errors.Is(err, ErrUnknownName) || errors.Is(err, ErrUnknownLanguage)
}

// ParamCounts is what a send of a template carries: the parameters of its
// header, body and button components (CommandParams reads them from a send
// command).
type ParamCounts struct {
	// Header is the number of header parameters (0 or 1); HeaderType the
	// type of the first (text, image, video, document, location, ...).
	Header     int
	HeaderType string
	// Body is the number of body parameters.
	Body int
	// Names are the parameter_name values of named header and body
	// parameters, in order; empty for positional parameters.
	Names []string
	// Buttons maps a button index to the number of parameters its
	// component carries.
	Buttons map[int]int
}

// Check reports whether a send of template name in language with params
// can match an approved template of the catalogue: nil, or an *Error
// (errors.Is with ErrUnknownName, ErrUnknownLanguage, ErrNotApproved,
// ErrParamMismatch). Before the first successful load it returns nil.
func (c *Catalog) Check(name, language string, params ParamCounts) error {
	c.mu.RLock()
	loaded := !c.loadedAt.IsZero()
	t, ok := c.byKey[key{name, language}]
	langs := c.byName[name]
	c.mu.RUnlock()
	if !loaded {
		return nil
	}
	if !ok {
		if len(langs) == 0 {
			return &Error{Kind: UnknownName, Name: name, Language: language, Detail: "no template of this name in the account" + c.suggest(name)}
		}
		return &Error{Kind: UnknownLanguage, Name: name, Language: language,
			Detail: fmt.Sprintf("no translation in %s; the template exists in %s", language, strings.Join(langs, ", "))}
	}
	if !t.Approved() {
		return &Error{Kind: NotApproved, Name: name, Language: language, Detail: fmt.Sprintf("status is %s, not approved", strings.ToLower(t.Status))}
	}
	if d := Mismatch(t.Params(), params); d != "" {
		return &Error{Kind: ParamMismatch, Name: name, Language: language, Detail: d}
	}
	return nil
}

// CheckCommand is Check for a send command body (the JSON of POST
// /messages, as ParseCommand returns it): nil for bodies that are not
// template sends.
func (c *Catalog) CheckCommand(body []byte) error {
	name, lang, p, ok := CommandParams(body)
	if !ok {
		return nil
	}
	return c.Check(name, lang, p)
}

// suggest names a template whose name is close, for typos.
func (c *Catalog) suggest(name string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	best, bestD := "", 4
	for n := range c.byName {
		if d := Distance(name, n); d < bestD || (d == bestD && n < best) {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// Mismatch compares what a template needs with what a send carries and says
// what does not fit; "" when it fits.
func Mismatch(want d360.TemplateParams, got ParamCounts) string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	switch {
	case want.Header == 0 && got.Header > 0 && want.HeaderFormat == "":
		add("the template has no header; the send gives a header parameter")
	case want.Header == 0 && got.Header > 0:
		add("the template's %s header takes no parameter; the send gives %d", strings.ToLower(want.HeaderFormat), got.Header)
	case want.Header == 1 && got.Header == 0:
		add("the template's %s header needs 1 parameter; the send gives none", strings.ToLower(want.HeaderFormat))
	case want.Header == 1 && got.HeaderType != "" && !headerTypeFits(want.HeaderFormat, got.HeaderType):
		add("the template's header is %s; the send's header parameter is %s", strings.ToLower(want.HeaderFormat), got.HeaderType)
	}
	if got.Body != want.Body {
		add("body takes %d parameter%s, the send gives %d", want.Body, plural(want.Body), got.Body)
	}
	if want.Named {
		wantNames := append(append([]string(nil), want.HeaderNames...), want.BodyNames...)
		if len(got.Names) == 0 && got.Header+got.Body > 0 {
			add("the template has named parameters (%s); the send's parameters have no parameter_name", strings.Join(wantNames, ", "))
		} else {
			var missing, extra []string
			for _, n := range wantNames {
				if !slices.Contains(got.Names, n) {
					missing = append(missing, n)
				}
			}
			for _, n := range got.Names {
				if !slices.Contains(wantNames, n) {
					extra = append(extra, n)
				}
			}
			if len(missing) > 0 {
				add("named parameters missing: %s", strings.Join(missing, ", "))
			}
			if len(extra) > 0 {
				add("named parameters the template does not have: %s", strings.Join(extra, ", "))
			}
		}
	} else if len(got.Names) > 0 {
		add("the template has positional parameters; the send names them (%s)", strings.Join(got.Names, ", "))
	}
	idx := make([]int, 0, len(got.Buttons))
	for i := range got.Buttons {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		n := got.Buttons[i]
		if i >= len(want.Buttons) {
			add("button %d: the template has %d button%s", i, len(want.Buttons), plural(len(want.Buttons)))
			continue
		}
		b := want.Buttons[i]
		if n > 0 && b.Params == 0 && !b.Optional {
			add("button %d (%s) takes no parameter; the send gives %d", i, strings.ToLower(b.Type), n)
		}
	}
	for i, b := range want.Buttons {
		if b.Params > 0 && got.Buttons[i] == 0 {
			add("button %d (%s) needs %d parameter; the send gives none", i, strings.ToLower(b.Type), b.Params)
		}
	}
	return strings.Join(problems, "; ")
}

func headerTypeFits(format, typ string) bool {
	f := strings.ToLower(format)
	if f == "text" {
		return typ == "text" || typ == "currency" || typ == "date_time"
	}
	return f == typ
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// CommandParams reads the template name, language code and parameters of a
// send command body (the JSON of POST /messages); ok is false when the body
// is not a template send.
func CommandParams(body []byte) (name, language string, p ParamCounts, ok bool) {
	var cmd struct {
		Type     string `json:"type"`
		Template *struct {
			Name     string `json:"name"`
			Language struct {
				Code string `json:"code"`
			} `json:"language"`
			Components []struct {
				Type       string          `json:"type"`
				Index      json.RawMessage `json:"index"`
				Parameters []struct {
					Type          string `json:"type"`
					ParameterName string `json:"parameter_name"`
				} `json:"parameters"`
			} `json:"components"`
		} `json:"template"`
	}
	if err := json.Unmarshal(body, &cmd); err != nil || cmd.Type != "template" || cmd.Template == nil {
		return "", "", ParamCounts{}, false
	}
	t := cmd.Template
	for _, c := range t.Components {
		switch c.Type {
		case "header", "body":
			for _, prm := range c.Parameters {
				if prm.ParameterName != "" {
					p.Names = append(p.Names, prm.ParameterName)
				}
			}
			if c.Type == "header" {
				p.Header = len(c.Parameters)
				if len(c.Parameters) > 0 {
					p.HeaderType = c.Parameters[0].Type
				}
			} else {
				p.Body = len(c.Parameters)
			}
		case "button":
			i, err := strconv.Atoi(strings.Trim(string(c.Index), `"`))
			if err != nil {
				continue // the validator reports it
			}
			if p.Buttons == nil {
				p.Buttons = map[int]int{}
			}
			p.Buttons[i] += len(c.Parameters)
		}
	}
	return t.Name, t.Language.Code, p, true
}

// Distance is the Levenshtein distance of a and b (bytes), for "did you
// mean" suggestions.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
