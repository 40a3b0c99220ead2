package window

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// Keywords are the words that opt a user out or in when they are the whole
// text of a message, per language. The language is only how the lists are
// organised: a message is matched against every language, since the
// inbound message does not say which one the user speaks.
type Keywords struct {
	OptOut map[string][]string
	OptIn  map[string][]string
}

// DefaultKeywords are conservative: words that, alone in a message, mean
// nothing but "stop" or "start". Words such as CANCEL or END are left out
// on purpose: alone they are ordinary answers in a shop's chat.
func DefaultKeywords() Keywords {
	return Keywords{
		OptOut: map[string][]string{
			"en": {"STOP", "UNSUBSCRIBE"},
			"de": {"STOPP"},
			"fr": {"ARRET", "ARRÊT"},
			"es": {"BAJA", "PARAR"},
			"pt": {"PARAR", "SAIR"},
		},
		OptIn: map[string][]string{
			"en": {"START", "UNSTOP"},
			"es": {"ALTA"},
		},
	}
}

// Matcher matches messages against Keywords. The zero value matches
// nothing.
type Matcher struct {
	words map[string]Action
}

// NewMatcher compiles k. A word in both lists is an error.
func NewMatcher(k Keywords) (*Matcher, error) {
	m := &Matcher{words: map[string]Action{}}
	add := func(lists map[string][]string, a Action) error {
		for lang, words := range lists {
			for _, w := range words {
				n := normalizeText(w)
				if n == "" {
					return fmt.Errorf("keywords of %q: empty word", lang)
				}
				if len(n) > maxKeywordText {
					return fmt.Errorf("keyword %q: longer than %d bytes, it would never match", w, maxKeywordText)
				}
				if prev, ok := m.words[n]; ok && prev != a {
					return fmt.Errorf("keyword %q both opts out and opts in", w)
				}
				m.words[n] = a
			}
		}
		return nil
	}
	if err := add(k.OptOut, OptOutAll); err != nil {
		return nil, err
	}
	if err := add(k.OptIn, OptInAll); err != nil {
		return nil, err
	}
	return m, nil
}

// Match says whether text opts the user out (OptOutAll), in (OptInAll), or
// neither (NoAction), and which keyword matched. The comparison ignores
// case and whitespace around and between words; it is otherwise exact:
// "stop" and " Stop\n" match STOP, "stop it" and "STOP." do not.
func (m *Matcher) Match(text string) (Action, string) {
	if m == nil || len(text) > maxKeywordText {
		return NoAction, ""
	}
	n := normalizeText(text)
	a, ok := m.words[n]
	if !ok {
		return NoAction, ""
	}
	return a, n
}

// Words lists the compiled keywords, sorted, for logs and --help.
func (m *Matcher) Words(a Action) []string {
	var out []string
	for w, wa := range m.words {
		if wa == a {
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return out
}

// maxKeywordText is the longest text Match looks at: longer messages are
// not keywords.
const maxKeywordText = 64

// normalizeText upper-cases s and collapses runs of whitespace to one
// space, trimming both ends.
func normalizeText(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToUpper(s), unicode.IsSpace), " ")
}

// ParseKeywordList parses "en=STOP,UNSUBSCRIBE;de=STOPP" (a flag or
// environment variable) into a per-language list. Words without a language
// ("STOP,STOPP") go under "any". The empty string is the empty list; any
// other string must hold a word, so that a stray ";" or blank does not
// turn keywords off unnoticed.
func ParseKeywordList(s string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lang, words, found := strings.Cut(part, "=")
		if !found {
			lang, words = "any", part
		}
		lang = strings.TrimSpace(lang)
		if lang == "" {
			return nil, fmt.Errorf("keywords %q: empty language before =", part)
		}
		for _, w := range strings.Split(words, ",") {
			if strings.Contains(w, "=") {
				return nil, fmt.Errorf("keywords %q: word %q holds \"=\" (a missing \";\" between languages?)", part, strings.TrimSpace(w))
			}
			if w = strings.TrimSpace(w); w != "" {
				out[lang] = append(out[lang], w)
			}
		}
		if len(out[lang]) == 0 {
			return nil, fmt.Errorf("keywords %q: no words", part)
		}
	}
	if len(out) == 0 && s != "" {
		return nil, fmt.Errorf("keywords %q: no words", s)
	}
	return out, nil
}
