package names

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestEveryCodePointRefusedWithAReason checks, for every code point alone
// and between two letters, that the explicit rules refuse whatever the
// precis profile refuses: the profile's own refusal (the generic reason) is
// never the one given.
func TestEveryCodePointRefusedWithAReason(t *testing.T) {
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		for _, s := range []string{string(r), "a" + string(r) + "a"} {
			_, err := Room(s)
			if err != nil && strings.Contains(err.Error(), "not allowed in names") && !isException(r) {
				t.Errorf("%U in %+q: refused only by the precis profile: %v", r, s, err)
			}
			n, err := Room(s)
			if err == nil {
				if _, perr := profile.String(n); perr != nil {
					t.Errorf("%U: accepted but the profile refuses it: %v", r, perr)
				}
			}
		}
	}
}
