package d360

import (
	"encoding/json"
	"testing"
)

// readSuccess reads what json.Unmarshal reads, where it reads at all.
func FuzzReadSuccess(f *testing.F) {
	for _, s := range []string{
		`{"messaging_product":"whatsapp","contacts":[{"input":"+1 555","wa_id":"1555"}],"messages":[{"id":"wamid.X","message_status":"accepted"}]}`,
		`{"success":true}`, `{"success":null,"contacts":null,"messages":[null,{}]}`,
		`{"Contacts":[{"wa_id":"a"}]}`, `{"contacts":[{"WA_ID":"a"}]}`, `{"contacts":[{"wa_id":1}]}`,
		`{"messages":[{"id":"a\u00e9","x":[1,{}]}],"extra":{"id":2}}`, `{"success":"yes"}`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := readSuccess(b)
		if !ok {
			return
		}
		var want successBody
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("readSuccess(%q) read %+v where json.Unmarshal fails: %v", b, got, err)
		}
		if g, w := summary(got), summary(want); g != w {
			t.Errorf("readSuccess(%q) = %s, json.Unmarshal %s", b, g, w)
		}
	})
}

// summary is what Send takes from a successBody.
func summary(sb successBody) string {
	out := struct {
		Contacts, Messages               int
		WAID, ID, Status, Input, Success string
	}{Contacts: len(sb.Contacts), Messages: len(sb.Messages), Success: "nil"}
	if len(sb.Contacts) > 0 {
		out.WAID, out.Input = sb.Contacts[0].WAID, sb.Contacts[0].Input
	}
	if len(sb.Messages) > 0 {
		out.ID, out.Status = sb.Messages[0].ID, sb.Messages[0].MessageStatus
	}
	if sb.Success != nil {
		out.Success = map[bool]string{true: "true", false: "false"}[*sb.Success]
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// The answers the API gives take the fast path.
func TestReadSuccessTakesTheAPIsAnswers(t *testing.T) {
	for _, in := range []string{
		`{"messaging_product":"whatsapp","contacts":[{"input":"+1 555 000 1111","wa_id":"15550001111"}],"messages":[{"id":"wamid.HBg","message_status":"accepted"}]}`,
		`{"success": true}`,
	} {
		if _, ok := readSuccess([]byte(in)); !ok {
			t.Errorf("readSuccess(%s) declined", in)
		}
	}
	for _, in := range []string{`{"Contacts":[]}`, `{"contacts":[{"Wa_Id":"1"}]}`, `{"contacts":{}}`, `{"success":1}`, `{"contacts":[],"contacts":[]}`} {
		if _, ok := readSuccess([]byte(in)); ok {
			t.Errorf("readSuccess(%s) read what it must leave to encoding/json", in)
		}
	}
}
