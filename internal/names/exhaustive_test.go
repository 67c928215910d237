package names

import (
	"iter"
	"strings"
	"testing"
	"unicode/utf8"
)

// skipped reports whether the exhaustive tests skip r: they take every code
// point of the planes that hold characters (0 to 3 and 14 to 16) and, of
// planes 4 to 13, which hold none in any Unicode version so far, every
// 257th and each plane's two noncharacters.
func skipped(r rune) bool {
	plane, low := r>>16, r&0xFFFF
	return plane >= 4 && plane <= 13 && low%257 != 0 && low < 0xFFFE
}

// codePoints yields the code points the exhaustive tests take.
func codePoints() iter.Seq[rune] {
	return func(yield func(rune) bool) {
		for r := rune(0); r <= utf8.MaxRune; r++ {
			if !skipped(r) && !yield(r) {
				return
			}
		}
	}
}

// TestEveryCodePointRefusedWithAReason checks, for each code point alone
// and between two letters, that the explicit rules refuse whatever the
// precis profile refuses: the profile's own refusal (the generic reason) is
// never the one given.
func TestEveryCodePointRefusedWithAReason(t *testing.T) {
	for r := range codePoints() {
		if !utf8.ValidRune(r) {
			continue
		}
		for _, s := range []string{string(r), "a" + string(r) + "a"} {
			n, err := Room(s)
			switch {
			case err != nil && strings.Contains(err.Error(), "not allowed in names") && !isException(r):
				t.Errorf("%U in %+q: refused only by the precis profile: %v", r, s, err)
			case err == nil:
				if _, perr := profile.String(n); perr != nil {
					t.Errorf("%U: accepted but the profile refuses it: %v", r, perr)
				}
			}
		}
	}
}
