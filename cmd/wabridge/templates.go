package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/d360"
)

// APIFlags reach 360dialog's management endpoints (templates, media).
type APIFlags struct {
	Key     string        `name:"api-key" env:"D360_API_KEY" help:"360dialog API key (D360-API-KEY header; never printed)."`
	BaseURL string        `name:"api-base-url" env:"D360_BASE_URL" default:"https://waba-v2.360dialog.io" help:"360dialog API base URL."`
	Timeout time.Duration `name:"api-timeout" env:"D360_TIMEOUT" default:"30s" help:"Timeout of one API call."`
	CAFile  string        `name:"api-ca-file" env:"D360_CA_FILE" placeholder:"FILE" help:"PEM bundle of further CA certificates to trust for the API, besides the system roots."`
}

// client returns an API client; a missing key is a usage error.
func (f APIFlags) client() (*d360.Client, error) {
	if f.Key == "" {
		return nil, usageError("D360_API_KEY is not set: the 360dialog API key of the number")
	}
	roots, err := d360.RootCAs(f.CAFile)
	if err != nil {
		return nil, usageError("360dialog %v", err)
	}
	c, err := d360.New(d360.Config{BaseURL: f.BaseURL, APIKey: d360.APIKey(f.Key), Timeout: f.Timeout, RootCAs: roots})
	if err != nil {
		return nil, usageError("%v", err)
	}
	return c, nil
}

// catalog loads the account's template catalogue once.
func (f APIFlags) catalog(ctx context.Context, log *slog.Logger) (*catalog.Catalog, error) {
	c, err := f.client()
	if err != nil {
		return nil, err
	}
	cat, err := catalog.New(catalog.Config{Client: c, Timeout: f.Timeout, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := cat.Refresh(ctx); err != nil {
		return nil, err
	}
	return cat, nil
}

// TemplatesCmd manages the account's message templates.
type TemplatesCmd struct {
	List   TemplatesListCmd   `cmd:"" help:"List the account's templates (every language and status)."`
	Show   TemplatesShowCmd   `cmd:"" help:"Show a template: its components and what a send must carry."`
	Create TemplatesCreateCmd `cmd:"" help:"Check a template definition against the documented limits, then submit it for review."`
	Delete TemplatesDeleteCmd `cmd:"" help:"Delete a template (every language of the name)."`
}

// Help is shown by --help.
func (TemplatesCmd) Help() string {
	return `Manages message templates through 360dialog's templates API (GET/POST {base}/v1/configs/templates, DELETE {base}/v1/configs/templates/{name}) with the key in D360_API_KEY.

Examples:

    wabridge templates list --status approved
    wabridge templates show order_update --language en_US
    wabridge templates create --name order_shipped --category UTILITY --language en_US \
        --body "Hi {{1}}, your order {{2}} is on its way." --body-example Jane --body-example 42 \
        --button "URL:Track:https://example.com/t/{{1}}"
    wabridge templates create --file template.json --dry-run
    wabridge templates delete order_shipped --yes`
}

// TemplatesListCmd lists templates.
type TemplatesListCmd struct {
	Name     string   `placeholder:"TEXT" help:"Only templates whose name contains TEXT."`
	Status   []string `placeholder:"STATUS" help:"Only these statuses (approved, submitted, pending, rejected, paused, disabled)."`
	Category []string `placeholder:"CATEGORY" help:"Only these categories (MARKETING, UTILITY, AUTHENTICATION)."`
	Language []string `placeholder:"CODE" help:"Only these languages."`
	Output   string   `short:"o" default:"table" enum:"table,json" help:"table or json (the API's objects, one array)."`
	API      APIFlags `embed:""`
}

// Run lists.
func (c *TemplatesListCmd) Run(ctx context.Context, g *Globals) error {
	cl, err := c.API.client()
	if err != nil {
		return err
	}
	list, err := cl.ListTemplates(ctx)
	if err != nil {
		return err
	}
	var out []d360.Template
	for _, t := range list {
		if (c.Name == "" || strings.Contains(t.Name, c.Name)) &&
			matchAny(c.Status, t.Status) && matchAny(c.Category, t.Category) && matchAny(c.Language, t.Language) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b d360.Template) int {
		return strings.Compare(a.Name+"\x00"+a.Language, b.Name+"\x00"+b.Language)
	})
	if c.Output == "json" {
		return writeJSON(g.Stdout, out)
	}
	tw := tabwriter.NewWriter(g.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLANGUAGE\tSTATUS\tCATEGORY\tSEND NEEDS")
	for _, t := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Language, strings.ToLower(t.Status), t.Category, needs(t.Params()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(g.Stderr, "%d of %d templates\n", len(out), len(list))
	return nil
}

func matchAny(want []string, v string) bool {
	if len(want) == 0 {
		return true
	}
	for _, w := range want {
		if strings.EqualFold(w, v) {
			return true
		}
	}
	return false
}

// needs summarises the parameters a send of a template must carry.
func needs(p d360.TemplateParams) string {
	var parts []string
	if p.Header > 0 {
		parts = append(parts, "header "+strings.ToLower(p.HeaderFormat))
	}
	switch {
	case p.Named && p.Body > 0:
		parts = append(parts, "body "+strings.Join(p.BodyNames, ","))
	case p.Body > 0:
		parts = append(parts, fmt.Sprintf("body %d", p.Body))
	}
	for i, b := range p.Buttons {
		if b.Params > 0 {
			parts = append(parts, fmt.Sprintf("button.%d %s", i, b.SubType))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

// TemplatesShowCmd shows one template.
type TemplatesShowCmd struct {
	Name     string   `arg:"" help:"Template name."`
	Language string   `placeholder:"CODE" help:"Only this language."`
	Output   string   `short:"o" default:"text" enum:"text,json" help:"text or json (the API's objects)."`
	API      APIFlags `embed:""`
}

// Run shows.
func (c *TemplatesShowCmd) Run(ctx context.Context, g *Globals) error {
	cat, err := c.API.catalog(ctx, g.Logger)
	if err != nil {
		return err
	}
	var found []d360.Template
	for _, t := range cat.Templates() {
		if t.Name == c.Name && (c.Language == "" || t.Language == c.Language) {
			found = append(found, t)
		}
	}
	if len(found) == 0 {
		lang := c.Language
		if lang == "" {
			lang = "any language"
		}
		err := cat.Check(c.Name, lang, catalog.ParamCounts{})
		return &exitError{code: exitFailure, err: fmt.Errorf("no template %s in %s: %v", c.Name, lang, err)}
	}
	if c.Output == "json" {
		return writeJSON(g.Stdout, found)
	}
	for i, t := range found {
		if i > 0 {
			fmt.Fprintln(g.Stdout)
		}
		fmt.Fprintf(g.Stdout, "%s (%s)  status=%s  category=%s", t.Name, t.Language, strings.ToLower(t.Status), t.Category)
		if t.ID != "" {
			fmt.Fprintf(g.Stdout, "  id=%s", t.ID)
		}
		if t.RejectedReason != "" && t.RejectedReason != "NONE" {
			fmt.Fprintf(g.Stdout, "  rejected_reason=%s", t.RejectedReason)
		}
		fmt.Fprintln(g.Stdout)
		for _, comp := range t.Components {
			switch {
			case len(comp.Buttons) > 0:
				for j, b := range comp.Buttons {
					extra := b.URL + b.PhoneNumber
					fmt.Fprintf(g.Stdout, "  button %d  %-12s %s %s\n", j, b.Type, b.Text, extra)
				}
			case comp.Format != "" && !strings.EqualFold(comp.Format, "TEXT"):
				fmt.Fprintf(g.Stdout, "  %-9s %s\n", strings.ToLower(comp.Type), comp.Format)
			default:
				fmt.Fprintf(g.Stdout, "  %-9s %s\n", strings.ToLower(comp.Type), strings.ReplaceAll(comp.Text, "\n", "\n            "))
			}
		}
		p := t.Params()
		fmt.Fprintf(g.Stdout, "  a send needs: %s\n", needs(p))
		fmt.Fprintf(g.Stdout, "  example:      %s\n", exampleSend(t, p))
	}
	return nil
}

// exampleSend renders a wabridge send command line for a template.
func exampleSend(t d360.Template, p d360.TemplateParams) string {
	args := []string{"wabridge send --to 15550001111 --template", t.Name, "--language", t.Language}
	if p.Header > 0 {
		v := "VALUE"
		switch strings.ToUpper(p.HeaderFormat) {
		case "IMAGE", "VIDEO", "DOCUMENT":
			v = "https://example.com/file"
		case "LOCATION":
			v = "52.52,13.40"
		}
		name := "header"
		if len(p.HeaderNames) > 0 {
			name += "." + p.HeaderNames[0]
		}
		args = append(args, "--param", name+"="+v)
	}
	for i := 0; i < p.Body; i++ {
		if p.Named && i < len(p.BodyNames) {
			args = append(args, "--param", "body."+p.BodyNames[i]+"=VALUE")
		} else {
			args = append(args, "--param", fmt.Sprintf("body.%d=VALUE", i+1))
		}
	}
	for i, b := range p.Buttons {
		if b.Params > 0 {
			args = append(args, "--param", fmt.Sprintf("button.%d=VALUE", i))
		}
	}
	return strings.Join(args, " ")
}

// TemplatesCreateCmd creates a template.
type TemplatesCreateCmd struct {
	File                string   `placeholder:"FILE" help:"The template definition as JSON (the body of POST /v1/configs/templates; - for stdin). Instead of the flags below."`
	Name                string   `help:"Template name: lowercase a-z, 0-9 and _, at most 512."`
	Category            string   `help:"MARKETING, UTILITY or AUTHENTICATION."`
	Language            string   `placeholder:"CODE" help:"Language code, e.g. en_US."`
	Header              string   `placeholder:"TEXT" help:"Text header (at most 60 characters, at most 1 variable {{1}})."`
	HeaderExample       string   `placeholder:"VALUE" help:"Example value of the header variable, for review."`
	Body                string   `placeholder:"TEXT" help:"Body text (at most 1024 characters) with variables {{1}}, {{2}}, ... or {{name}} (then --named)."`
	BodyExample         []string `sep:"none" placeholder:"VALUE" help:"Example value of each body variable in order, for review (repeatable)."`
	Named               bool     `help:"The variables are named ({{first_name}}): parameter_format NAMED."`
	Footer              string   `placeholder:"TEXT" help:"Footer text (at most 60 characters)."`
	Button              []string `sep:"none" placeholder:"TYPE:TEXT[:URL|PHONE]" help:"A button (repeatable, at most 10): QUICK_REPLY:Stop, URL:Track:https://example.com/t/{{1}}, PHONE_NUMBER:Call us:+15550001111, COPY_CODE:SAVE25."`
	AllowCategoryChange bool     `help:"Let Meta change the category on review (allow_category_change)."`
	DryRun              bool     `help:"Check and print the definition; do not submit it."`
	API                 APIFlags `embed:""`
}

// Run creates.
func (c *TemplatesCreateCmd) Run(ctx context.Context, g *Globals) error {
	def, err := c.definition()
	if err != nil {
		return err
	}
	problems := d360.CheckTemplate(def)
	bad := 0
	for _, p := range problems {
		fmt.Fprintln(g.Stderr, p.String())
		if !p.Warning {
			bad++
		}
	}
	if bad > 0 {
		return usageError("template definition has %d error(s); nothing was submitted", bad)
	}
	if c.DryRun {
		fmt.Fprintln(g.Stdout, string(def))
		return nil
	}
	cl, err := c.API.client()
	if err != nil {
		return err
	}
	created, err := cl.CreateTemplate(ctx, def)
	if err != nil {
		return err
	}
	var t struct {
		Name, Language string
	}
	_ = json.Unmarshal(def, &t)
	fmt.Fprintf(g.Stdout, "created %s (%s) id=%s status=%s\n", t.Name, t.Language, created.ID, strings.ToLower(created.Status))
	return nil
}

// definition is --file, or the definition the flags describe.
func (c *TemplatesCreateCmd) definition() ([]byte, error) {
	flags := c.Name != "" || c.Category != "" || c.Language != "" || c.Body != "" || c.Header != "" || c.Footer != "" || len(c.Button) > 0
	switch {
	case c.File != "" && flags:
		return nil, usageError("use either --file or the flags --name, --category, --language, --body, ...")
	case c.File == "-":
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		if err != nil {
			return nil, usageError("reading stdin: %v", err)
		}
		return b, nil
	case c.File != "":
		b, err := os.ReadFile(c.File)
		if err != nil {
			return nil, usageError("%v", err)
		}
		return b, nil
	case !flags:
		return nil, usageError("give --file FILE, or --name, --category, --language and --body")
	}
	def := map[string]any{"name": c.Name, "category": strings.ToUpper(c.Category), "language": c.Language}
	if c.Named {
		def["parameter_format"] = "NAMED"
	}
	if c.AllowCategoryChange {
		def["allow_category_change"] = true
	}
	var comps []any
	if c.Header != "" {
		h := map[string]any{"type": "HEADER", "format": "TEXT", "text": c.Header}
		if c.HeaderExample != "" {
			if c.Named {
				vars := d360.Variables(c.Header)
				if len(vars) > 0 {
					h["example"] = map[string]any{"header_text_named_params": []any{map[string]any{"param_name": vars[0], "example": c.HeaderExample}}}
				}
			} else {
				h["example"] = map[string]any{"header_text": []string{c.HeaderExample}}
			}
		}
		comps = append(comps, h)
	}
	body := map[string]any{"type": "BODY", "text": c.Body}
	if len(c.BodyExample) > 0 {
		if c.Named {
			var named []any
			for i, v := range d360.Variables(c.Body) {
				if i < len(c.BodyExample) {
					named = append(named, map[string]any{"param_name": v, "example": c.BodyExample[i]})
				}
			}
			body["example"] = map[string]any{"body_text_named_params": named}
		} else {
			body["example"] = map[string]any{"body_text": [][]string{c.BodyExample}}
		}
	}
	comps = append(comps, body)
	if c.Footer != "" {
		comps = append(comps, map[string]any{"type": "FOOTER", "text": c.Footer})
	}
	if len(c.Button) > 0 {
		var buttons []any
		for _, spec := range c.Button {
			b, err := parseButtonFlag(spec)
			if err != nil {
				return nil, err
			}
			buttons = append(buttons, b)
		}
		comps = append(comps, map[string]any{"type": "BUTTONS", "buttons": buttons})
	}
	def["components"] = comps
	return json.Marshal(def)
}

// parseButtonFlag reads TYPE:TEXT[:URL|PHONE].
func parseButtonFlag(spec string) (map[string]any, error) {
	typ, rest, ok := strings.Cut(spec, ":")
	if !ok || rest == "" {
		return nil, usageError("--button %q: want TYPE:TEXT[:URL|PHONE], e.g. QUICK_REPLY:Stop", spec)
	}
	typ = strings.ToUpper(typ)
	switch typ {
	case "QUICK_REPLY":
		return map[string]any{"type": typ, "text": rest}, nil
	case "COPY_CODE":
		return map[string]any{"type": typ, "example": rest}, nil
	case "URL", "PHONE_NUMBER":
		text, target, ok := strings.Cut(rest, ":")
		if !ok || target == "" {
			return nil, usageError("--button %q: want %s:TEXT:%s", spec, typ, map[string]string{"URL": "URL", "PHONE_NUMBER": "PHONE"}[typ])
		}
		if typ == "URL" {
			b := map[string]any{"type": typ, "text": text, "url": target}
			if len(d360.Variables(target)) > 0 {
				b["example"] = []string{strings.NewReplacer("{{1}}", "example").Replace(target)}
			}
			return b, nil
		}
		return map[string]any{"type": typ, "text": text, "phone_number": target}, nil
	}
	return nil, usageError("--button %q: type is QUICK_REPLY, URL, PHONE_NUMBER or COPY_CODE (others through --file)", spec)
}

// TemplatesDeleteCmd deletes a template.
type TemplatesDeleteCmd struct {
	Name string   `arg:"" help:"Template name."`
	Yes  bool     `help:"Really delete (every language of the name; sends of it fail from then on)."`
	API  APIFlags `embed:""`
}

// Run deletes.
func (c *TemplatesDeleteCmd) Run(ctx context.Context, g *Globals) error {
	if !c.Yes {
		return usageError("deleting %s removes every language of it and cannot be undone; repeat with --yes", c.Name)
	}
	cl, err := c.API.client()
	if err != nil {
		return err
	}
	if err := cl.DeleteTemplate(ctx, c.Name); err != nil {
		return err
	}
	fmt.Fprintf(g.Stdout, "deleted %s\n", c.Name)
	return nil
}
