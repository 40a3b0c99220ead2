package campaign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/outbound"
)

// readAll reads every row of data and renders each as "line:fields|error".
func readAll(t *testing.T, data, format string) ([]string, error) {
	t.Helper()
	rr, err := newRowReader(strings.NewReader(data), format, ',')
	if err != nil {
		return nil, err
	}
	var out []string
	if rr.header != nil {
		out = append(out, "header:"+strings.Join(rr.header, ","))
	}
	for {
		r, err := rr.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		s := fmt.Sprintf("%d:%s%s", r.line, strings.Join(r.fields, ","), r.raw)
		if r.err != nil {
			s += "|" + r.err.Error()
		}
		out = append(out, s)
	}
}

func TestRowReader(t *testing.T) {
	tests := []struct {
		name, format, data string
		want               []string
		err                string
	}{
		{name: "plain", format: "csv", data: "phone,name\n15550001111,Jane\n", want: []string{"header:phone,name", "2:15550001111,Jane"}},
		{name: "byte-order mark and CRLF", format: "csv", data: "\xEF\xBB\xBFphone,name\r\n15550001111,Jane\r\n", want: []string{"header:phone,name", "2:15550001111,Jane"}},
		{name: "quoted comma, quote and newline", format: "csv", data: "phone,name\n15550001111,\"Smith, \"\"J\"\"\nJane\"\n15550002222,Bob\n",
			want: []string{"header:phone,name", "2:15550001111,Smith, \"J\"\nJane", "4:15550002222,Bob"}},
		{name: "empty and blank lines", format: "csv", data: "\n\nphone,name\n\n15550001111,Jane\n,\n  ,  \n15550002222,Bob", want: []string{"header:phone,name", "5:15550001111,Jane", "8:15550002222,Bob"}},
		{name: "header names trimmed", format: "csv", data: " phone , name \n1,2\n", want: []string{"header:phone,name", "2:1,2"}},
		{name: "too few and too many fields", format: "csv", data: "phone,name\n15550001111\n1,2,3\n4,5\n",
			want: []string{"header:phone,name", "2:15550001111|1 fields, the header has 2 (a comma inside a value needs quotes: \"Smith, Jane\")",
				"3:1,2,3|3 fields, the header has 2 (a comma inside a value needs quotes: \"Smith, Jane\")", "4:4,5"}},
		{name: "bare quote is one bad row", format: "csv", data: "phone,name\n1,Ja\"ne\n2,Bob\n",
			want: []string{"header:phone,name", "2:1|a \" inside an unquoted value (at character 5): quote the whole value and double the quote, e.g. \"say \"\"hi\"\"\"", "3:2,Bob"}},
		{name: "unclosed quote", format: "csv", data: "phone,name\n1,\"Jane\n2,Bob\n",
			want: []string{"header:phone,name", "2:1|a quoted value is not closed, or a \" is followed by text (at character 7); the quote opened on line 2"}},
		{name: "semicolons are one field", format: "csv", data: "phone;name\n1;2\n", want: []string{"header:phone;name", "2:1;2"}},
		{name: "empty file", format: "csv", data: "", err: "the file is empty"},
		{name: "only blank lines", format: "csv", data: "\n \n", err: "the file is empty"},
		{name: "UTF-16", format: "csv", data: "\xFF\xFEp\x00", err: "UTF-16"},
		{name: "header not UTF-8", format: "csv", data: "ph\xF6ne\n1\n", err: "not valid UTF-8"},
		{name: "jsonl", format: "jsonl", data: "\xEF\xBB\xBF{\"phone\":\"1\"}\n\n  \n{\"phone\":2}\r\n", want: []string{"1:{\"phone\":\"1\"}", "4:{\"phone\":2}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, tt.data, tt.format)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestJSONLLineTooLong(t *testing.T) {
	data := `{"phone":"1"}` + "\n" + `{"x":"` + strings.Repeat("a", maxLine) + `"}` + "\n"
	_, err := readAll(t, data, "jsonl")
	if err == nil || !strings.Contains(err.Error(), "line 2 is longer than") {
		t.Fatalf("error = %v, want line 2 too long", err)
	}
}

// testPlan is the plan of order_update with a header, two body parameters
// (one from a column, one set) and a url button.
func testPlan(t testing.TB, format string, columns []string) *Plan {
	t.Helper()
	p, err := NewPlan(PlanConfig{
		Campaign: "c1", Template: "order_update", Language: "en_US", Format: format, Delim: ',', Columns: columns,
		Mapping: Mapping{
			Params: map[string]string{"header": "order_id", "body.1": "first_name", "button.0": "order_id"},
			Set:    map[string]string{"body.2": "on its way"},
		},
		Spec: orderUpdate(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlanRowErrorsNameTheColumn(t *testing.T) {
	p := testPlan(t, "csv", []string{"phone", "first_name", "order_id"})
	tests := []struct {
		fields []string
		err    string
	}{
		{[]string{"+1 (555) 000-1111", "Jane", "42"}, ""},
		{[]string{"123", "Jane", "42"}, `column "phone" (recipient): must have 8 to 15 digits`},
		{[]string{"", "Jane", "42"}, `column "phone" (recipient) is empty`},
		{[]string{"15550001111", "", "42"}, `column "first_name" (body.1): empty value`},
		{[]string{"15550001111", strings.Repeat("x", 1025), "42"}, `column "first_name" (body.1): at most 1024 characters`},
		{[]string{"15550001111", "Jane", strings.Repeat("9", 61)}, `column "order_id" (header): at most 60 characters`},
		{[]string{"15550001111", "Jane\xff", "42"}, `column "first_name" is not valid UTF-8`},
		{[]string{"US.13491208655302741918", "Jane", "42"}, ""},
	}
	for _, tt := range tests {
		r := row{line: 2, fields: tt.fields}
		key, id, body, err := p.build(&r)
		if tt.err == "" {
			if err != nil {
				t.Errorf("%q: %v", tt.fields, err)
				continue
			}
			if id != "bulk:c1:"+key || !bytes.Contains(body, []byte(`"biz_opaque_callback_data":"bulk:c1:`)) {
				t.Errorf("%q: id %s body %s", tt.fields, id, body)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q: error %v, want %q", tt.fields, err, tt.err)
		}
	}
}

func TestPlanMappingErrors(t *testing.T) {
	cols := []string{"phone", "first_name", "order_id"}
	tests := []struct {
		name    string
		mapping Mapping
		cols    []string
		err     string
	}{
		{name: "unknown column", mapping: Mapping{Params: map[string]string{"header": "order_id", "body.1": "firstname", "button.0": "order_id"}, Set: map[string]string{"body.2": "x"}},
			err: `unknown column "firstname": the header has phone, first_name, order_id (did you mean "first_name"?)`},
		{name: "no recipient column", cols: []string{"tel", "first_name", "order_id"}, mapping: Mapping{Params: map[string]string{"header": "order_id", "body.1": "first_name", "button.0": "order_id"}, Set: map[string]string{"body.2": "x"}},
			err: "no recipient column"},
		{name: "duplicate header", cols: []string{"phone", "order_id", "first_name", "order_id"}, mapping: Mapping{Params: map[string]string{"header": "order_id", "body.1": "first_name", "button.0": "order_id"}, Set: map[string]string{"body.2": "x"}},
			err: `column "order_id" appears twice`},
		{name: "too few body parameters", mapping: Mapping{Params: map[string]string{"header": "order_id", "body.1": "first_name", "button.0": "order_id"}},
			err: "mapping does not fit template order_update (en_US): body takes 2 parameters, the send gives 1"},
		{name: "not a slot", mapping: Mapping{Params: map[string]string{"first_name": "first_name"}}, err: `"first_name" is not a slot`},
		{name: "body without position", mapping: Mapping{Params: map[string]string{"body": "first_name"}}, err: "say which body parameter"},
		{name: "bad set value", mapping: Mapping{Params: map[string]string{"header": "order_id", "body.1": "first_name", "button.0": "order_id"}, Set: map[string]string{"body.2:currency": "lots"}},
			err: "--set body.2:currency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cols
			if tt.cols != nil {
				c = tt.cols
			}
			_, err := NewPlan(PlanConfig{Campaign: "c", Template: "order_update", Language: "en_US", Format: "csv", Delim: ',', Columns: c, Mapping: tt.mapping, Spec: orderUpdate()})
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestRecipientHash(t *testing.T) {
	seen := map[uint64]string{}
	for _, k := range []string{"15550001111", "015550001111", "1555000111", "US.13491208655302741918", "US.13491208655302741919", "1", "12345678901234567", "123456789012345678"} {
		h := RecipientHash(k)
		if other, dup := seen[h]; dup {
			t.Errorf("%s and %s share a hash", k, other)
		}
		seen[h] = k
	}
	if RecipientHash("15550001111") != RecipientHash(outbound.UserKey("+1 555 000 1111")) {
		t.Errorf("a number written two ways hashes differently")
	}
}

// FuzzBulkRows feeds arbitrary files through the row reader and the plan,
// as CSV and as JSONL: no panic, rows in line order, every row either a
// valid command or a reason.
func FuzzBulkRows(f *testing.F) {
	f.Add([]byte("phone,first_name,order_id\n15550001111,Jane,42\n"), false)
	f.Add([]byte("\xEF\xBB\xBFphone,first_name,order_id\r\n\"+1 555 000 1111\",\"Smith, \"\"J\"\"\",4\n\n1,2\n"), false)
	f.Add([]byte("phone,first_name,order_id\n1,\"unclosed\n2,b\"x,3\n"), false)
	f.Add([]byte(`{"phone":"15550001111","first_name":"Jane","order_id":42}`+"\n\n"+`{"phone":1}`+"\n"+`[1]`+"\nnull\n"), true)
	f.Add([]byte(`{"phone":"US.1349","first_name":{"a":1},"order_id":true}`), true)
	f.Fuzz(func(t *testing.T, data []byte, jsonl bool) {
		format := "csv"
		if jsonl {
			format = "jsonl"
		}
		rr, err := newRowReader(bytes.NewReader(data), format, ',')
		if err != nil {
			return
		}
		cols := []string{"phone", "first_name", "order_id"}
		if rr.header != nil {
			cols = rr.header
		}
		p, err := NewPlan(PlanConfig{Campaign: "f", Template: "order_update", Language: "en_US", Format: format, Delim: ',', Columns: cols,
			Mapping: Mapping{To: "phone", Params: map[string]string{"header": "order_id", "body.1": "first_name", "button.0:url": "order_id"}, Set: map[string]string{"body.2": "x"}}})
		if err != nil {
			return // the header lacks the columns
		}
		last := 0
		seen := keySet{}
		for n := 0; n < 10000; n++ {
			r, err := rr.next()
			if err != nil {
				return
			}
			if r.line <= last {
				t.Fatalf("row on line %d after line %d", r.line, last)
			}
			last = r.line
			key, id, body, reason := p.build(&r)
			if reason != nil {
				continue
			}
			if id != "bulk:f:"+key || !json.Valid(body) {
				t.Fatalf("row %d: id %q body %s", r.line, id, body)
			}
			seen[RecipientHash(key)] = int32(r.line)
		}
	})
}

func BenchmarkBulkBuild(b *testing.B) {
	p := testPlan(b, "csv", []string{"phone", "first_name", "order_id"})
	r := row{line: 2}
	for i := 0; b.Loop(); i++ {
		r.fields = []string{"1555" + fmt.Sprintf("%07d", i%10_000_000), "Jane", "42"}
		if _, _, _, err := p.build(&r); err != nil {
			b.Fatal(err)
		}
	}
}
func TestParseSlot(t *testing.T) {
	tests := []struct {
		in      string
		want    Slot
		notSlot bool
		err     string
	}{
		{in: "body.1", want: Slot{comp: "body", pos: 1, given: true, raw: "body.1"}},
		{in: "body.first_name", want: Slot{comp: "body", name: "first_name", given: true, raw: "body.first_name"}},
		{in: "body.2:currency", want: Slot{comp: "body", pos: 2, typ: "currency", given: true, raw: "body.2:currency"}},
		{in: "header", want: Slot{comp: "header", pos: 1, raw: "header"}},
		{in: "header:image", want: Slot{comp: "header", pos: 1, typ: "image", raw: "header:image"}},
		{in: "button.0", want: Slot{comp: "button", pos: 0, given: true, raw: "button.0"}},
		{in: "button.3:payload", want: Slot{comp: "button", pos: 3, typ: "payload", given: true, raw: "button.3:payload"}},
		{in: "Jane", notSlot: true},
		{in: "price=9", notSlot: true},
		{in: "footer.1", notSlot: true},
		{in: "body.0", err: "numbered from 1"},
		{in: "header.2", err: "at most 1 parameter"},
		{in: "button", err: "needs the button's index"},
		{in: "button.x", err: "needs the button's index"},
		{in: "button.10", err: "0 to 9"},
		{in: "body.1:money", err: "unknown parameter type"},
		{in: "body.a_very_long_parameter_name_x", err: "at most 20"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok, err := ParseSlot(tt.in)
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseSlot(%q) error = %v, want one containing %q", tt.in, err, tt.err)
				}
			case tt.notSlot:
				if ok || err != nil {
					t.Fatalf("ParseSlot(%q) = %v, %v, %v; want not a slot", tt.in, got, ok, err)
				}
			default:
				if err != nil || !ok || got != tt.want {
					t.Fatalf("ParseSlot(%q) = %+v, %v, %v; want %+v", tt.in, got, ok, err, tt.want)
				}
			}
		})
	}
}

func orderUpdate() *d360.TemplateParams {
	var tmpl d360.Template
	b, _ := json.Marshal(d360test.DefaultTemplates()[1])
	if err := json.Unmarshal(b, &tmpl); err != nil {
		panic(err)
	}
	p := tmpl.Params()
	return &p
}

func TestSendParamsBuildTheTemplate(t *testing.T) {
	tests := []struct {
		name   string
		params []string
		spec   *d360.TemplateParams
		want   string // the template object
		err    string
	}{
		{
			name:   "bare values fill the body in order",
			params: []string{"Jane", "on its way"},
			want:   `{"components":[{"parameters":[{"text":"Jane","type":"text"},{"text":"on its way","type":"text"}],"type":"body"}],"language":{"code":"en_US"},"name":"t"}`,
		},
		{
			name:   "slots with the catalogue's types",
			params: []string{"header=42", "body.2=on its way", "body.1=Jane", "button.0=42"},
			spec:   orderUpdate(),
			want:   `{"components":[{"parameters":[{"text":"42","type":"text"}],"type":"header"},{"parameters":[{"text":"Jane","type":"text"},{"text":"on its way","type":"text"}],"type":"body"},{"index":"0","parameters":[{"text":"42","type":"text"}],"sub_type":"url","type":"button"}],"language":{"code":"en_US"},"name":"t"}`,
		},
		{
			name:   "named, currency, media and payload",
			params: []string{"header:image=https://example.com/a.jpg", "body.first_name=Jane", "body.price:currency=USD 19.99", "button.1:payload=STOP"},
			want:   `{"components":[{"parameters":[{"image":{"link":"https://example.com/a.jpg"},"type":"image"}],"type":"header"},{"parameters":[{"parameter_name":"first_name","text":"Jane","type":"text"},{"currency":{"amount_1000":19990,"code":"USD","fallback_value":"USD 19.99"},"parameter_name":"price","type":"currency"}],"type":"body"},{"index":"1","parameters":[{"payload":"STOP","type":"payload"}],"sub_type":"quick_reply","type":"button"}],"language":{"code":"en_US"},"name":"t"}`,
		},
		{name: "a value with = that is no slot", params: []string{"a=b"}, want: `{"components":[{"parameters":[{"text":"a=b","type":"text"}],"type":"body"}],"language":{"code":"en_US"},"name":"t"}`},
		{name: "gap", params: []string{"body.2=x"}, err: "body.1 is missing"},
		{name: "twice", params: []string{"body.1=x", "body.1=y"}, err: "given twice"},
		{name: "named and positional mixed", params: []string{"body.1=x", "body.name=y"}, err: "either named or positional"},
		{name: "button type unknown without catalogue", params: []string{"button.0=42"}, err: "say the button's parameter type"},
		{name: "body parameter cannot be media", params: []string{"body.1:image=x"}, err: "text, currency or date_time"},
		{name: "too few for the template", params: []string{"header=42", "Jane", "button.0=42"}, spec: orderUpdate(), err: "body takes 2 parameters, the send gives 1"},
		{name: "header missing for the template", params: []string{"Jane", "x", "button.0=42"}, spec: orderUpdate(), err: "header needs 1 parameter"},
		{name: "url button parameter missing", params: []string{"header=1", "Jane", "x"}, spec: orderUpdate(), err: "button 0 (url) needs 1 parameter"},
		{name: "bad money", params: []string{"body.1:currency=19.99"}, err: "CODE AMOUNT"},
		{name: "empty value", params: []string{"body.1="}, err: "empty value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shape, values, err := ParseSendParams(tt.params, tt.spec)
			var body []byte
			if err == nil {
				body, err = shape.Command("t", "en_US", "15550001111", func(i int) string { return values[i] })
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var msg map[string]any
			if err := json.Unmarshal(body, &msg); err != nil {
				t.Fatalf("command %s is not JSON: %v", body, err)
			}
			if got, _ := json.Marshal(msg["template"]); string(got) != tt.want { // map keys sorted
				t.Errorf("template =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
