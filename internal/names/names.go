package names

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// MaxChars is the longest client id or room name, in characters (code
// points) after NFC normalization. It is the protocol's name limit.
const MaxChars = 32

// maxCompose is the most code points NFC composes into one: a character's
// canonical decomposition is at most 4 code points long (U+1F82 is α with
// three marks). A name longer than maxCompose*MaxChars code points is
// therefore over MaxChars after normalization too, and is refused without
// normalizing it.
const maxCompose = 4

// ErrInvalid is the error every refused name wraps.
var ErrInvalid = errors.New("invalid name")

// Error is a refused name. Its text is the reason alone, written to follow
// "bad client_id: " or "bad room: " ("contains a tag character (U+E0041)").
type Error struct {
	// Reason says why the name is refused; it never quotes the whole name.
	Reason string
}

var _ error = (*Error)(nil)

func (e *Error) Error() string { return e.Reason }

// Unwrap returns ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

// Reasons that do not name a code point.
const (
	ReasonInvalidUTF8   = "not valid UTF-8"
	ReasonEmpty         = "empty"
	ReasonOnlySpaces    = "only spaces"
	ReasonEdgeSpace     = "starts or ends with a space"
	ReasonDoubleSpace   = "contains two spaces in a row"
	ReasonSlash         = "contains a slash (/)"
	ReasonControl       = "contains a control character"
	ReasonMixedDigits   = "mixes Arabic-Indic and extended Arabic-Indic digits"
	reasonTooLongFmt    = "longer than %d characters"
	reasonNotAllowedFmt = "contains a character not allowed in names (%U)"
)

// ReasonTooLong is the reason for a name over MaxChars characters.
var ReasonTooLong = fmt.Sprintf(reasonTooLongFmt, MaxChars)

// profile is the PRECIS Freeform class with NFC normalization (see the
// package doc for the choice).
var profile = precis.NewFreeform(precis.Norm(norm.NFC), precis.DisallowEmpty)

// ClientID checks a client id and returns it normalized to NFC. The error,
// an *Error wrapping ErrInvalid, says why it is refused.
func ClientID(s string) (string, error) { return check(s, true) }

// Room checks a room name and returns it normalized to NFC. The error, an
// *Error wrapping ErrInvalid, says why it is refused. Unlike a client id, a
// room name may contain "/".
func Room(s string) (string, error) { return check(s, false) }

func check(s string, isClientID bool) (string, error) {
	switch {
	case !utf8.ValidString(s):
		return "", &Error{ReasonInvalidUTF8}
	case s == "":
		return "", &Error{ReasonEmpty}
	case utf8.RuneCountInString(s) > maxCompose*MaxChars:
		return "", &Error{ReasonTooLong}
	}
	n := s
	if !norm.NFC.IsNormalString(s) {
		n = norm.NFC.String(s)
	}
	if utf8.RuneCountInString(n) > MaxChars {
		return "", &Error{ReasonTooLong}
	}
	if reason := checkRunes(n, isClientID); reason != "" {
		return "", &Error{reason}
	}
	if reason := checkSpaces(n); reason != "" {
		return "", &Error{reason}
	}
	if _, err := profile.String(n); err != nil {
		return "", &Error{notAllowed(n)}
	}
	return n, nil
}

// checkRunes returns the reason the first refused character of the NFC
// name n is refused, or "".
func checkRunes(n string, isClientID bool) string {
	var arabic, extArabic bool // digits of each kind seen so far
	prev := rune(-1)
	for i, r := range n {
		switch {
		case unicode.Is(unicode.Cc, r):
			return ReasonControl
		case isBidiControl(r):
			return fmt.Sprintf("contains a bidirectional control character (%U)", r)
		case r == '\u2028' || r == '\u2029':
			return fmt.Sprintf("contains a line or paragraph separator (%U)", r)
		case r >= 0xE0000 && r <= 0xE007F:
			return fmt.Sprintf("contains a tag character (%U)", r)
		case unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector):
			return fmt.Sprintf("contains an invisible character (%U)", r)
		case unicode.Is(unicode.Noncharacter_Code_Point, r):
			return fmt.Sprintf("contains a noncharacter (%U)", r)
		case unicode.Is(unicode.Co, r):
			return fmt.Sprintf("contains a private-use character (%U)", r)
		case unicode.Is(unicode.Cn, r):
			return fmt.Sprintf("contains an unassigned code point (%U)", r)
		case unicode.Is(unicode.Zs, r) && r != ' ':
			return fmt.Sprintf("contains a space other than U+0020 (%U)", r)
		case r == '/' && isClientID:
			return ReasonSlash
		case isJamo(r):
			return fmt.Sprintf("contains a conjoining Hangul jamo (%U)", r)
		case isException(r):
			return fmt.Sprintf(reasonNotAllowedFmt, r)
		case r == '\u00B7' && (prev != 'l' || !strings.HasPrefix(n[i+len("\u00B7"):], "l")):
			return "contains a middle dot (U+00B7) that is not between two l"
		case r == '\u0375' && !nextIs(n[i+len("\u0375"):], unicode.Greek):
			return "contains U+0375 that is not followed by a Greek letter"
		case (r == '\u05F3' || r == '\u05F4') && (prev < 0 || !unicode.Is(unicode.Hebrew, prev)):
			return fmt.Sprintf("contains %U that is not preceded by a Hebrew letter", r)
		case r == '\u30FB' && !hasJapanese(n):
			return "contains U+30FB without any Hiragana, Katakana or Han character"
		case r >= '\u0660' && r <= '\u0669':
			if extArabic {
				return ReasonMixedDigits
			}
			arabic = true
		case r >= '\u06F0' && r <= '\u06F9':
			if arabic {
				return ReasonMixedDigits
			}
			extArabic = true
		}
		prev = r
	}
	return ""
}

// checkSpaces returns why the spaces of n (only U+0020 by now) are
// refused, or "".
func checkSpaces(n string) string {
	switch {
	case strings.Trim(n, " ") == "":
		return ReasonOnlySpaces
	case n[0] == ' ' || n[len(n)-1] == ' ':
		return ReasonEdgeSpace
	case strings.Contains(n, "  "):
		return ReasonDoubleSpace
	}
	return ""
}

// notAllowed is the reason for the first character of n that the precis
// profile refuses on its own; the whole name when no single one is.
func notAllowed(n string) string {
	allowed := profile.Allowed()
	for _, r := range n {
		if !allowed.Contains(r) && !isContextual(r) {
			return fmt.Sprintf(reasonNotAllowedFmt, r)
		}
	}
	return "contains characters not allowed together in names"
}

func isBidiControl(r rune) bool {
	return r == '\u061C' || r == '\u200E' || r == '\u200F' ||
		(r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

// isJamo reports whether r has Hangul_Syllable_Type L, V or T (RFC 5892's
// OldHangulJamo).
func isJamo(r rune) bool {
	return (r >= 0x1100 && r <= 0x11FF) || (r >= 0xA960 && r <= 0xA97C) ||
		(r >= 0xD7B0 && r <= 0xD7C6) || (r >= 0xD7CB && r <= 0xD7FB)
}

// isException reports whether RFC 5892 section 2.6 disallows r by
// exception.
func isException(r rune) bool {
	switch r {
	case '\u0640', '\u07FA', '\u302E', '\u302F', '\u3031', '\u3032', '\u3033', '\u3034', '\u3035', '\u303B':
		return true
	}
	return false
}

// isContextual reports whether r is allowed only in some contexts (RFC 5892
// CONTEXTO), which profile.Allowed counts as not allowed.
func isContextual(r rune) bool {
	return r == '\u00B7' || r == '\u0375' || r == '\u05F3' || r == '\u05F4' || r == '\u30FB' ||
		(r >= '\u0660' && r <= '\u0669') || (r >= '\u06F0' && r <= '\u06F9')
}

func nextIs(rest string, script *unicode.RangeTable) bool {
	r, size := utf8.DecodeRuneInString(rest)
	return size > 0 && unicode.Is(script, r)
}

func hasJapanese(n string) bool {
	for _, r := range n {
		if unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Han) {
			return true
		}
	}
	return false
}
