package window

import (
	"reflect"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	m, err := NewMatcher(DefaultKeywords())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text     string
		want     Action
		wantWord string
	}{
		{"STOP", OptOutAll, "STOP"},
		{"stop", OptOutAll, "STOP"},
		{"  Stop\n", OptOutAll, "STOP"},
		{"\tSTOPP ", OptOutAll, "STOPP"},
		{"arret", OptOutAll, "ARRET"},
		{"Arrêt", OptOutAll, "ARRÊT"},
		{"baja", OptOutAll, "BAJA"},
		{"Parar", OptOutAll, "PARAR"},
		{"unsubscribe", OptOutAll, "UNSUBSCRIBE"},
		{"START", OptInAll, "START"},
		{"unstop", OptInAll, "UNSTOP"},
		{"stop it", NoAction, ""},
		{"STOP.", NoAction, ""},
		{"please stop", NoAction, ""},
		{"stopping", NoAction, ""},
		{"", NoAction, ""},
		{"   ", NoAction, ""},
		{"cancel", NoAction, ""},
		{"start\u00a0", OptInAll, "START"}, // no-break space is whitespace too
	}
	for _, tt := range tests {
		a, w := m.Match(tt.text)
		if a != tt.want || w != tt.wantWord {
			t.Errorf("Match(%q) = %v %q, want %v %q", tt.text, a, w, tt.want, tt.wantWord)
		}
	}
	var none *Matcher
	if a, _ := none.Match("STOP"); a != NoAction {
		t.Error("a nil Matcher matched")
	}
	if a, _ := (&Matcher{}).Match("STOP"); a != NoAction {
		t.Error("the zero Matcher matched")
	}
}

func TestMatcherConfig(t *testing.T) {
	m, err := NewMatcher(Keywords{OptOut: map[string][]string{"nl": {"Afmelden", "opt out"}}, OptIn: map[string][]string{"nl": {"aanmelden"}}})
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := m.Match("OPT   OUT"); a != OptOutAll {
		t.Error("a two-word keyword with more spaces between did not match")
	}
	if a, _ := m.Match("stop"); a != NoAction {
		t.Error("a configured list still matches the defaults")
	}
	if got, want := m.Words(OptOutAll), []string{"AFMELDEN", "OPT OUT"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Words = %q, want %q", got, want)
	}
	if _, err := NewMatcher(Keywords{OptOut: map[string][]string{"en": {"STOP"}}, OptIn: map[string][]string{"en": {"stop"}}}); err == nil {
		t.Error("a word in both lists was accepted")
	}
	if _, err := NewMatcher(Keywords{OptOut: map[string][]string{"en": {"  "}}}); err == nil {
		t.Error("an empty word was accepted")
	}
	if _, err := NewMatcher(Keywords{OptOut: map[string][]string{"en": {strings.Repeat("STOP ", 14)}}}); err == nil {
		t.Error("a keyword too long to ever match was accepted")
	}
}

func TestParseKeywordList(t *testing.T) {
	got, err := ParseKeywordList(" en=STOP, UNSUBSCRIBE ; de=STOPP;QUIT")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"en": {"STOP", "UNSUBSCRIBE"}, "de": {"STOPP"}, "any": {"QUIT"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"=STOP", "en=", "en= , "} {
		if _, err := ParseKeywordList(bad); err == nil {
			t.Errorf("ParseKeywordList(%q) did not fail", bad)
		}
	}
	// Mistakes that would otherwise turn keywords off or make a keyword no
	// user types.
	for _, bad := range []string{" ", ";", " ; ", "en=STOP de=STOPP", "en=STOP,de=STOPP"} {
		if _, err := ParseKeywordList(bad); err == nil {
			t.Errorf("ParseKeywordList(%q) did not fail", bad)
		}
	}
	if got, err := ParseKeywordList(""); err != nil || len(got) != 0 {
		t.Errorf("empty list: %v %v", got, err)
	}
}
