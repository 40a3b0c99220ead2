package window

import (
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	grace := time.Minute
	opened := func(ago time.Duration) State { return State{LastInbound: now.Add(-ago)} }
	tests := []struct {
		name       string
		mode       Mode
		state      State
		template   bool
		wantAllow  bool
		wantReason string
		wantStatus Status
	}{
		{name: "open window", mode: Enforce, state: opened(time.Hour), wantAllow: true, wantStatus: Open},
		{name: "message a moment ago", mode: Enforce, state: opened(0), wantAllow: true, wantStatus: Open},
		{name: "unknown window", mode: Enforce, state: State{}, wantReason: ReasonOutsideWindow, wantStatus: Unknown},
		{name: "expired window", mode: Enforce, state: opened(25 * time.Hour), wantReason: ReasonOutsideWindow, wantStatus: Closed},
		{name: "just before the grace", mode: Enforce, state: opened(Length - grace - time.Second), wantAllow: true, wantStatus: Open},
		{name: "inside the grace", mode: Enforce, state: opened(Length - grace), wantReason: ReasonOutsideWindow, wantStatus: Closed},
		{name: "inside the grace, 1 s left", mode: Enforce, state: opened(Length - time.Second), wantReason: ReasonOutsideWindow, wantStatus: Closed},
		{name: "message in the future (writer's clock ahead)", mode: Enforce, state: opened(-30 * time.Second), wantAllow: true, wantStatus: Open},
		{name: "131047 after the message", mode: Enforce, state: State{LastInbound: now.Add(-time.Hour), ClosedAt: now.Add(-time.Minute)}, wantReason: ReasonOutsideWindow, wantStatus: Closed},
		{name: "131047 in the second of the message", mode: Enforce, state: State{LastInbound: now.Add(-time.Hour), ClosedAt: now.Add(-time.Hour)}, wantReason: ReasonOutsideWindow, wantStatus: Closed},
		{name: "message after 131047", mode: Enforce, state: State{LastInbound: now.Add(-time.Minute), ClosedAt: now.Add(-time.Hour)}, wantAllow: true, wantStatus: Open},
		{name: "131047 only", mode: Enforce, state: State{ClosedAt: now.Add(-time.Hour)}, wantReason: ReasonOutsideWindow, wantStatus: Closed},
		{name: "template, unknown window", mode: Enforce, state: State{}, template: true, wantAllow: true, wantStatus: Unknown},
		{name: "template, closed window", mode: Enforce, state: opened(30 * time.Hour), template: true, wantAllow: true, wantStatus: Closed},
		{name: "warn: goes out with the reason", mode: Warn, state: State{}, wantAllow: true, wantReason: ReasonOutsideWindow, wantStatus: Unknown},
		{name: "warn, open", mode: Warn, state: opened(time.Hour), wantAllow: true, wantStatus: Open},
		{name: "off: goes out", mode: Off, state: State{}, wantAllow: true, wantStatus: Unknown},
		{name: "empty mode is enforce", mode: "", state: State{}, wantReason: ReasonOutsideWindow, wantStatus: Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.mode, tt.state, tt.template, now, grace)
			if d.Allow != tt.wantAllow || d.Reason != tt.wantReason || d.Window.Status != tt.wantStatus {
				t.Fatalf("got allow=%v reason=%q status=%s, want allow=%v reason=%q status=%s (%s)",
					d.Allow, d.Reason, d.Window.Status, tt.wantAllow, tt.wantReason, tt.wantStatus, d.Details)
			}
			if d.Warned() != (tt.wantAllow && tt.wantReason != "") {
				t.Fatalf("Warned() = %v", d.Warned())
			}
			if tt.wantReason != "" && !strings.Contains(d.Details, "window") {
				t.Fatalf("details do not describe the window: %q", d.Details)
			}
		})
	}
}

func TestDecideDetails(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d := Decide(Enforce, State{LastInbound: now.Add(-Length + 30*time.Second)}, false, now, time.Minute)
	want := "free-form message outside the 24-hour customer service window (only templates may be sent): window closed: last message from the user at 2026-02-28T12:00:30Z, window ends at 2026-03-01T12:00:30Z (wabridge stops 1m0s early for clock skew)"
	if d.Details != want {
		t.Fatalf("details\n got %q\nwant %q", d.Details, want)
	}
	d = Decide(Enforce, State{}, false, now, time.Minute)
	if want := "free-form message outside the 24-hour customer service window (only templates may be sent): window unknown: no message from the user in the last 24 h is known"; d.Details != want {
		t.Fatalf("details\n got %q\nwant %q", d.Details, want)
	}
}

func TestDecideOptIn(t *testing.T) {
	in := Consent{General: OptedIn}
	out := Consent{General: OptedOut}
	stopMkt := Consent{General: OptedIn, Categories: map[string]bool{"marketing": false}}
	onlyMkt := Consent{Categories: map[string]bool{"marketing": true}}
	outButMkt := Consent{General: OptedOut, Categories: map[string]bool{"marketing": true}}
	tests := []struct {
		name       string
		mode       Mode
		consent    Consent
		template   bool
		category   string
		wantAllow  bool
		wantReason string
	}{
		{name: "free-form, opted out, enforce", mode: Enforce, consent: out, wantAllow: true},
		{name: "free-form, unknown, enforce", mode: Enforce, consent: Consent{}, wantAllow: true},
		{name: "opted in", mode: Enforce, consent: in, template: true, category: "utility", wantAllow: true},
		{name: "unknown, enforce", mode: Enforce, consent: Consent{}, template: true, category: "utility", wantReason: ReasonNoOptIn},
		{name: "unknown, warn", mode: Warn, consent: Consent{}, template: true, wantAllow: true, wantReason: ReasonNoOptIn},
		{name: "unknown, off", mode: Off, consent: Consent{}, template: true, category: "marketing", wantAllow: true},
		{name: "unknown, empty mode is off", mode: "", consent: Consent{}, template: true, wantAllow: true},
		{name: "opted out, marketing, off", mode: Off, consent: out, template: true, category: "MARKETING", wantReason: ReasonOptedOut},
		{name: "opted out, marketing_lite, warn", mode: Warn, consent: out, template: true, category: "marketing_lite", wantReason: ReasonOptedOut},
		{name: "opted out, utility, off", mode: Off, consent: out, template: true, category: "UTILITY", wantAllow: true},
		{name: "opted out, utility, warn", mode: Warn, consent: out, template: true, category: "utility", wantAllow: true, wantReason: ReasonOptedOut},
		{name: "opted out, utility, enforce", mode: Enforce, consent: out, template: true, category: "utility", wantReason: ReasonOptedOut},
		{name: "opted out, no category, off", mode: Off, consent: out, template: true, wantAllow: true},
		{name: "opted out, no category, enforce", mode: Enforce, consent: out, template: true, wantReason: ReasonOptedOut},
		{name: "marketing stopped, marketing, off", mode: Off, consent: stopMkt, template: true, category: "marketing", wantReason: ReasonOptedOut},
		{name: "marketing stopped, utility, enforce", mode: Enforce, consent: stopMkt, template: true, category: "utility", wantAllow: true},
		{name: "marketing resumed only, marketing, enforce", mode: Enforce, consent: onlyMkt, template: true, category: "marketing", wantAllow: true},
		{name: "marketing resumed only, utility, enforce", mode: Enforce, consent: onlyMkt, template: true, category: "utility", wantReason: ReasonNoOptIn},
		{name: "opted out but resumed marketing", mode: Off, consent: outButMkt, template: true, category: "marketing", wantAllow: true},
		{name: "authentication_international is authentication", mode: Enforce, consent: Consent{Categories: map[string]bool{"authentication": true}}, template: true, category: "authentication_international", wantAllow: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DecideOptIn(tt.mode, tt.consent, tt.template, tt.category)
			if d.Allow != tt.wantAllow || d.Reason != tt.wantReason {
				t.Fatalf("got allow=%v reason=%q (%s), want allow=%v reason=%q", d.Allow, d.Reason, d.Details, tt.wantAllow, tt.wantReason)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Warn, "enforce": Enforce, " WARN ": Warn, "Off": Off} {
		if got, err := ParseMode(in, Warn); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseMode("strict", Warn); err == nil {
		t.Error("ParseMode(strict) did not fail")
	}
}

func TestFamily(t *testing.T) {
	for in, want := range map[string]string{
		"MARKETING": "marketing", "marketing_lite": "marketing", "group_marketing": "marketing",
		"UTILITY": "utility", "group_utility": "utility", "authentication_international": "authentication",
		" Service ": "service", "": "",
	} {
		if got := Family(in); got != want {
			t.Errorf("Family(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConsentApply(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := Consent{}
	c = c.Apply(Change{Action: StopCategory, Category: "MARKETING", Source: "user_preferences:stop", At: at})
	if c.General != NotKnown || c.For("marketing") != OptedOut || c.For("utility") != NotKnown || !c.Known() {
		t.Fatalf("stop marketing from nothing: %+v", c)
	}
	c = c.Apply(Change{Action: OptInAll, Source: "web", At: at})
	if c.General != OptedIn || c.Categories != nil || c.For("marketing") != OptedIn || c.Source != "web" {
		t.Fatalf("opt in after: %+v", c)
	}
	before := c
	c = c.Apply(Change{Action: StopCategory, Category: "marketing"})
	if before.Categories != nil {
		t.Fatal("Apply changed its receiver")
	}
	c = c.Apply(Change{Action: OptOutAll})
	if c.General != OptedOut || c.Categories != nil {
		t.Fatalf("opt out: %+v", c)
	}
	if got := c.Apply(Change{}); got.General != OptedOut {
		t.Fatalf("no action changed %+v", got)
	}
}

func TestUserPreference(t *testing.T) {
	tests := []struct {
		category, value string
		want            Action
	}{
		{"marketing_messages", "stop", StopCategory},
		{"marketing_messages", "resume", ResumeCategory},
		{"marketing_messages", "signup", ResumeCategory},
		{"marketing_messages", "something", NoAction},
		{"utility_messages", "stop", NoAction},
		{"", "stop", NoAction},
	}
	for _, tt := range tests {
		ch := UserPreference(tt.category, tt.value)
		if ch.Action != tt.want || (tt.want != NoAction && ch.Category != "marketing") {
			t.Errorf("UserPreference(%q, %q) = %+v, want %v of marketing", tt.category, tt.value, ch, tt.want)
		}
	}
}

func TestEntry(t *testing.T) {
	ms := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMilli()
	}
	e := makeEntry(ms("2026-05-06T07:08:09Z")+999, ms("2026-05-06T08:00:00Z"))
	if got := unpackSec(e.last()); got.Format(time.RFC3339) != "2026-05-06T07:08:09Z" {
		t.Fatalf("last = %s (milliseconds are dropped, never rounded up)", got)
	}
	if e.expiry() != time.Date(2026, 5, 7, 8, 0, 0, 0, time.UTC).Unix() {
		t.Fatalf("expiry = %s", time.Unix(e.expiry(), 0).UTC())
	}
	if st := e.state(); st.ClosedAt.IsZero() {
		t.Fatalf("131047 after the message lost: %+v", st)
	}
	reopened := e.merge(makeEntry(ms("2026-05-06T09:00:00Z"), 0))
	if st := reopened.state(); !st.ClosedAt.IsZero() || st.LastInbound.Hour() != 9 {
		t.Fatalf("message after 131047: %+v", st)
	}
	if a, b := e.merge(reopened), reopened.merge(e); a.times() != b.times() {
		t.Fatal("merge is not commutative")
	}
	flags := e | mineBit | trackBit
	if m := flags.merge(makeEntry(1, 0)); !m.mine() || !m.tracked() || m.times() != e.times() {
		t.Fatalf("merge lost flags or took an older time: %x", uint64(m))
	}
	for _, c := range []struct {
		ms   int64
		want entry
	}{{0, 0}, {-5, 0}, {1000, 1}, {ms("2019-12-31T23:59:59Z"), 1}, {ms("2100-01-01T00:00:00Z"), secMask}} {
		if got := packSec(c.ms); got != c.want {
			t.Errorf("packSec(%d) = %d, want %d", c.ms, got, c.want)
		}
	}
	if unpackSec(secMask).Year() != 2088 {
		t.Fatalf("largest time %s", unpackSec(secMask))
	}
}

func TestPackedConsent(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []Consent{
		{},
		{General: OptedIn, At: at},
		{General: OptedOut, At: at},
		{General: OptedIn, Categories: map[string]bool{"marketing": false}, At: at},
		{Categories: map[string]bool{"marketing": true, "utility": false}, At: at},
		{General: OptedOut, Categories: map[string]bool{"authentication": true}, At: at},
	} {
		p, other := packConsent(c)
		got := p.unpack(other)
		if got.General != c.General || !got.At.Equal(c.At) || len(got.Categories) != len(c.Categories) {
			t.Fatalf("round trip of %+v: %+v", c, got)
		}
		for k, v := range c.Categories {
			if got.Categories[k] != v {
				t.Fatalf("round trip of %+v: %+v", c, got)
			}
		}
	}
}

func TestKeyAndNormalizeUser(t *testing.T) {
	for in, want := range map[string]string{
		"15550001111": "15550001111", "+1 555-000 1111": "15550001111", "(555) 000-1111": "5550001111",
		"US.13491208655302741918": "US.13491208655302741918", "": "",
	} {
		if got := NormalizeUser(in); got != want {
			t.Errorf("NormalizeUser(%q) = %q, want %q", in, got, want)
		}
	}
	if k := Key("100000000000001", "+1 555 000 1111"); k != "100000000000001|15550001111" {
		t.Fatalf("Key = %q", k)
	}
	n, u, ok := SplitKey([]byte("100000000000001|US.1"))
	if !ok || n != "100000000000001" || u != "US.1" {
		t.Fatalf("SplitKey = %q %q %v", n, u, ok)
	}
	for _, bad := range []string{"", "|", "a|", "|b", "ab"} {
		if _, _, ok := SplitKey([]byte(bad)); ok || checkKey([]byte(bad)) == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
	// Lookups reduce a phone number to its digits: a record keyed
	// otherwise could never be found, so it is invalid, with the key to use.
	for _, good := range []string{"100000000000001|15550001111", "100000000000001|US.1", "1|a-b c"} {
		if err := checkKey([]byte(good)); err != nil {
			t.Errorf("key %q refused: %v", good, err)
		}
	}
	err := checkKey([]byte("100000000000001|+1 555-000 1111"))
	if err == nil || !strings.Contains(err.Error(), `"100000000000001|15550001111"`) {
		t.Errorf("a key with a punctuated phone number: %v, want an error naming the digits-only key", err)
	}
}

func TestParseWait(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "5s": 5 * time.Second, " 1500ms ": 1500 * time.Millisecond, "1500": 1500 * time.Millisecond, "0": 0} {
		if got, err := ParseWait(in); err != nil || got != want {
			t.Errorf("ParseWait(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1s", "-5", "soon", "2h", "3600001"} {
		if _, err := ParseWait(bad); err == nil {
			t.Errorf("ParseWait(%q) did not fail", bad)
		}
	}
}
