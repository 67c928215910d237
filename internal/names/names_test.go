package names

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// nameCase is one input and what both ClientID (clientID true) or Room
// and web/names.js must make of it: the normalized value, or the reason.
type nameCase struct {
	name     string
	in       string
	clientID bool
	want     string // normalized value when reason is ""
	reason   string
}

// cases covers every rule; the browser test runs the same table through
// web/names.js.
var cases = []nameCase{
	// Accepted, kept as typed or composed to NFC.
	{name: "ascii", in: "ana", clientID: true, want: "ana"},
	{name: "inner space", in: "Ana Smith", clientID: true, want: "Ana Smith"},
	{name: "punctuation and symbols", in: "dev-ops_#1+€", clientID: true, want: "dev-ops_#1+€"},
	{name: "café NFC", in: "caf\u00e9", clientID: true, want: "caf\u00e9"},
	{name: "café NFD", in: "cafe\u0301", clientID: true, want: "caf\u00e9"},
	{name: "room café NFD", in: "cafe\u0301", want: "caf\u00e9"},
	{name: "slash in a room", in: "dev/ops", want: "dev/ops"},
	{name: "Japanese", in: "日本語", clientID: true, want: "日本語"},
	{name: "Greek", in: "Ελένη", clientID: true, want: "Ελένη"},
	{name: "Hebrew", in: "דני", clientID: true, want: "דני"},
	{name: "mixed direction", in: "Ana דני", clientID: true, want: "Ana דני"},
	{name: "plain emoji", in: "ana 🙂", clientID: true, want: "ana 🙂"},
	{name: "fullwidth kept", in: "ｆｕｌｌ", clientID: true, want: "ｆｕｌｌ"},
	{name: "ligature kept", in: "ﬁle", clientID: true, want: "ﬁle"},
	{name: "Hangul jamo composed", in: "\u1100\u1161", clientID: true, want: "가"},
	{name: "middle dot between l", in: "col·lecció", clientID: true, want: "col·lecció"},
	{name: "keraia before Greek", in: "\u0375α", clientID: true, want: "\u0375α"},
	{name: "geresh after Hebrew", in: "א\u05F3", clientID: true, want: "א\u05F3"},
	{name: "katakana middle dot with Katakana", in: "カ・カ", clientID: true, want: "カ・カ"},
	{name: "Arabic-Indic digits", in: "٠١٢", clientID: true, want: "٠١٢"},
	{name: "32 characters", in: strings.Repeat("a", 32), clientID: true, want: strings.Repeat("a", 32)},
	{name: "32 characters after NFC", in: strings.Repeat("e\u0301", 32), clientID: true, want: strings.Repeat("\u00e9", 32)},

	// Length and encoding.
	{name: "empty", in: "", clientID: true, reason: "empty"},
	{name: "empty room", in: "", reason: "empty"},
	{name: "invalid UTF-8", in: "ana\xff", clientID: true, reason: "not valid UTF-8"},
	{name: "33 characters", in: strings.Repeat("a", 33), clientID: true, reason: "longer than 32 characters"},
	{name: "33 characters after NFC", in: strings.Repeat("e\u0301", 33), clientID: true, reason: "longer than 32 characters"},
	{name: "very long", in: strings.Repeat("ab", 100), reason: "longer than 32 characters"},

	// Controls.
	{name: "tab", in: "a\tb", clientID: true, reason: "contains a control character"},
	{name: "NUL", in: "a\x00", clientID: true, reason: "contains a control character"},
	{name: "newline", in: "a\nb", reason: "contains a control character"},
	{name: "DEL", in: "a\x7f", clientID: true, reason: "contains a control character"},
	{name: "NEL", in: "a\u0085", clientID: true, reason: "contains a control character"},
	{name: "C1", in: "\u009b", reason: "contains a control character"},

	// Bidi controls.
	{name: "LRE", in: "a\u202Ab", clientID: true, reason: "contains a bidirectional control character (U+202A)"},
	{name: "RLE", in: "a\u202Bb", clientID: true, reason: "contains a bidirectional control character (U+202B)"},
	{name: "PDF", in: "a\u202Cb", clientID: true, reason: "contains a bidirectional control character (U+202C)"},
	{name: "LRO", in: "a\u202Db", clientID: true, reason: "contains a bidirectional control character (U+202D)"},
	{name: "RLO", in: "\u202Eana", clientID: true, reason: "contains a bidirectional control character (U+202E)"},
	{name: "RLO in a room", in: "gen\u202Eeral", reason: "contains a bidirectional control character (U+202E)"},
	{name: "LRI", in: "a\u2066", clientID: true, reason: "contains a bidirectional control character (U+2066)"},
	{name: "RLI", in: "a\u2067", clientID: true, reason: "contains a bidirectional control character (U+2067)"},
	{name: "FSI", in: "a\u2068", clientID: true, reason: "contains a bidirectional control character (U+2068)"},
	{name: "PDI", in: "a\u2069", clientID: true, reason: "contains a bidirectional control character (U+2069)"},
	{name: "LRM", in: "a\u200E", clientID: true, reason: "contains a bidirectional control character (U+200E)"},
	{name: "RLM", in: "a\u200F", clientID: true, reason: "contains a bidirectional control character (U+200F)"},
	{name: "ALM", in: "a\u061C", clientID: true, reason: "contains a bidirectional control character (U+061C)"},

	// Invisible characters.
	{name: "zero-width space", in: "al\u200Bice", clientID: true, reason: "contains an invisible character (U+200B)"},
	{name: "ZWNJ", in: "a\u200Cb", clientID: true, reason: "contains an invisible character (U+200C)"},
	{name: "ZWJ", in: "👩\u200D💻", clientID: true, reason: "contains an invisible character (U+200D)"},
	{name: "word joiner", in: "a\u2060b", clientID: true, reason: "contains an invisible character (U+2060)"},
	{name: "BOM", in: "\uFEFFana", clientID: true, reason: "contains an invisible character (U+FEFF)"},
	{name: "Mongolian vowel separator", in: "a\u180Eb", clientID: true, reason: "contains an invisible character (U+180E)"},
	{name: "Hangul filler", in: "\u3164", clientID: true, reason: "contains an invisible character (U+3164)"},
	{name: "Hangul choseong filler", in: "\u115F", clientID: true, reason: "contains an invisible character (U+115F)"},
	{name: "halfwidth Hangul filler", in: "\uFFA0", reason: "contains an invisible character (U+FFA0)"},
	{name: "soft hyphen", in: "a\u00ADb", clientID: true, reason: "contains an invisible character (U+00AD)"},
	{name: "combining grapheme joiner", in: "a\u034Fb", clientID: true, reason: "contains an invisible character (U+034F)"},
	{name: "emoji presentation selector", in: "❤\uFE0F", clientID: true, reason: "contains an invisible character (U+FE0F)"},
	{name: "variation selector supplement", in: "a\U000E0100", clientID: true, reason: "contains an invisible character (U+E0100)"},
	{name: "Arabic number sign", in: "\u0600١", reason: "contains an invisible character (U+0600)"},

	// Tags, separators, noncharacters, private use, unassigned.
	{name: "tag A", in: "a\U000E0041", clientID: true, reason: "contains a tag character (U+E0041)"},
	{name: "language tag", in: "\U000E0001en", clientID: true, reason: "contains a tag character (U+E0001)"},
	{name: "cancel tag", in: "🏴\U000E007F", reason: "contains a tag character (U+E007F)"},
	{name: "line separator", in: "a\u2028b", clientID: true, reason: "contains a line or paragraph separator (U+2028)"},
	{name: "paragraph separator", in: "a\u2029b", reason: "contains a line or paragraph separator (U+2029)"},
	{name: "noncharacter FDD0", in: "a\uFDD0", clientID: true, reason: "contains a noncharacter (U+FDD0)"},
	{name: "noncharacter FDEF", in: "a\uFDEF", clientID: true, reason: "contains a noncharacter (U+FDEF)"},
	{name: "noncharacter FFFE", in: "a\uFFFE", clientID: true, reason: "contains a noncharacter (U+FFFE)"},
	{name: "noncharacter FFFF", in: "a\uFFFF", reason: "contains a noncharacter (U+FFFF)"},
	{name: "noncharacter 1FFFE", in: "a\U0001FFFE", clientID: true, reason: "contains a noncharacter (U+1FFFE)"},
	{name: "noncharacter 10FFFF", in: "a\U0010FFFF", clientID: true, reason: "contains a noncharacter (U+10FFFF)"},
	{name: "private use BMP", in: "a\uE000", clientID: true, reason: "contains a private-use character (U+E000)"},
	{name: "private use F8FF", in: "\uF8FF", reason: "contains a private-use character (U+F8FF)"},
	{name: "private use plane 15", in: "a\U000F0000", clientID: true, reason: "contains a private-use character (U+F0000)"},
	{name: "private use plane 16", in: "a\U0010FFFD", clientID: true, reason: "contains a private-use character (U+10FFFD)"},
	{name: "unassigned", in: "a\u0378", clientID: true, reason: "contains an unassigned code point (U+0378)"},

	// Spaces.
	{name: "only spaces", in: "   ", clientID: true, reason: "only spaces"},
	{name: "one space room", in: " ", reason: "only spaces"},
	{name: "leading space", in: " ana", clientID: true, reason: "starts or ends with a space"},
	{name: "trailing space", in: "ana ", clientID: true, reason: "starts or ends with a space"},
	{name: "trailing space room", in: "general ", reason: "starts or ends with a space"},
	{name: "two spaces", in: "ana  bob", clientID: true, reason: "contains two spaces in a row"},
	{name: "no-break space", in: "ana\u00A0bob", clientID: true, reason: "contains a space other than U+0020 (U+00A0)"},
	{name: "ideographic space", in: "\u3000", clientID: true, reason: "contains a space other than U+0020 (U+3000)"},
	{name: "en space", in: "a\u2002b", reason: "contains a space other than U+0020 (U+2002)"},

	// Slash, jamo, exceptions, context rules.
	{name: "slash in a client id", in: "ana/bob", clientID: true, reason: "contains a slash (/)"},
	{name: "lone jamo", in: "\u1100", clientID: true, reason: "contains a conjoining Hangul jamo (U+1100)"},
	{name: "trailing jamo", in: "a\u11A8", clientID: true, reason: "contains a conjoining Hangul jamo (U+11A8)"},
	{name: "tatweel", in: "ب\u0640ب", clientID: true, reason: "contains a character not allowed in names (U+0640)"},
	{name: "vertical kana repeat mark", in: "カ\u3031", reason: "contains a character not allowed in names (U+3031)"},
	{name: "middle dot", in: "a·b", clientID: true, reason: "contains a middle dot (U+00B7) that is not between two l"},
	{name: "Greek ano teleia becomes a middle dot", in: "a\u0387b", clientID: true, reason: "contains a middle dot (U+00B7) that is not between two l"},
	{name: "keraia alone", in: "\u0375a", clientID: true, reason: "contains U+0375 that is not followed by a Greek letter"},
	{name: "keraia at the end", in: "α\u0375", reason: "contains U+0375 that is not followed by a Greek letter"},
	{name: "geresh first", in: "\u05F3א", clientID: true, reason: "contains U+05F3 that is not preceded by a Hebrew letter"},
	{name: "gershayim after Latin", in: "a\u05F4", clientID: true, reason: "contains U+05F4 that is not preceded by a Hebrew letter"},
	{name: "katakana middle dot alone", in: "a・b", clientID: true, reason: "contains U+30FB without any Hiragana, Katakana or Han character"},
	{name: "mixed Arabic digits", in: "٠۰", clientID: true, reason: "mixes Arabic-Indic and extended Arabic-Indic digits"},
	{name: "mixed Arabic digits reversed", in: "۱a١", reason: "mixes Arabic-Indic and extended Arabic-Indic digits"},

	// The first refused character gives the reason.
	{name: "first reason wins", in: "a\u200B\u202E", clientID: true, reason: "contains an invisible character (U+200B)"},
	{name: "character before spaces", in: " a\t", clientID: true, reason: "contains a control character"},
}

func (c nameCase) check() (string, error) {
	if c.clientID {
		return ClientID(c.in)
	}
	return Room(c.in)
}

func TestNames(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.check()
			switch {
			case c.reason == "" && err != nil:
				t.Fatalf("%+q refused: %v, want %+q", c.in, err, c.want)
			case c.reason == "" && got != c.want:
				t.Fatalf("%+q = %+q, want %+q", c.in, got, c.want)
			case c.reason != "" && err == nil:
				t.Fatalf("%+q accepted as %+q, want refused: %s", c.in, got, c.reason)
			case c.reason != "" && err.Error() != c.reason:
				t.Fatalf("%+q refused with %q, want %q", c.in, err, c.reason)
			case err != nil && (!errors.Is(err, ErrInvalid) || got != ""):
				t.Fatalf("%+q: error %v does not wrap ErrInvalid or value %+q not empty", c.in, err, got)
			}
		})
	}
}

func TestClientIDAcceptedAsRoom(t *testing.T) {
	for _, c := range cases {
		if !c.clientID || c.reason != "" {
			continue
		}
		if got, err := Room(c.in); err != nil || got != c.want {
			t.Errorf("Room(%+q) = %+q, %v; want %+q as for ClientID", c.in, got, err, c.want)
		}
	}
}

func FuzzNames(f *testing.F) {
	for _, c := range cases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, check := range []func(string) (string, error){ClientID, Room} {
			got, err := check(in)
			if err != nil {
				if !errors.Is(err, ErrInvalid) || err.Error() == "" || got != "" {
					t.Fatalf("%+q: bad refusal %v, value %+q", in, err, got)
				}
				if strings.Contains(err.Error(), "not allowed in names") && !strings.ContainsFunc(in, isException) {
					t.Fatalf("%+q: refused by the precis profile alone: %v", in, err)
				}
				if utf8.ValidString(in) {
					if _, err2 := check(norm.NFC.String(in)); err2 == nil || err2.Error() != err.Error() {
						t.Fatalf("%+q refused (%v) but its NFC form gives %v", in, err, err2)
					}
				}
				continue
			}
			if again, err := check(got); err != nil || again != got {
				t.Fatalf("%+q -> %+q -> %+q, %v: not idempotent", in, got, again, err)
			}
			if got != norm.NFC.String(in) {
				t.Fatalf("%+q -> %+q, not its NFC form", in, got)
			}
			if n := utf8.RuneCountInString(got); n < 1 || n > MaxChars {
				t.Fatalf("%+q -> %+q: %d characters", in, got, n)
			}
			if _, err := profile.String(got); err != nil {
				t.Fatalf("%+q -> %+q refused by the precis profile: %v", in, got, err)
			}
		}
		if id, err := ClientID(in); err == nil {
			if strings.Contains(id, "/") {
				t.Fatalf("client id %+q contains a slash", id)
			}
			if room, err := Room(in); err != nil || room != id {
				t.Fatalf("client id %+q is not the room %+q (%v)", id, room, err)
			}
		}
	})
}

func BenchmarkClientID(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"ascii", "ana-smith"},
		{"NFC", "Zoë Élodie"},
		{"NFD", "Zoe\u0308 E\u0301lodie"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ClientID(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
