// Package names checks and normalizes client ids and room names.
//
// A name is checked against the PRECIS framework (RFC 8264) with
// golang.org/x/text/secure/precis, through a profile of the Freeform class
// normalized to NFC, plus explicit rules that give every refusal a reason a
// person can act on, and close the gaps that matter for names shown to
// other people.
//
// # Why this profile
//
// RFC 8266's Nickname profile is the closest standard one, but it
// normalizes to NFKC (turning "ﬁ" into "fi" and "²" into "2"), silently
// maps and trims spaces and compares case-insensitively: a name would come
// out as something other than what the person typed, and a silent rewrite is
// itself a way to collide with someone else's name. The Identifier-class
// profiles of RFC 8265 (usernames) refuse spaces, punctuation and symbols,
// which display names in this chat have always allowed ("Ana Smith",
// "dev-ops"). So names use the Freeform class (letters, digits, marks,
// spaces, symbols, punctuation; never controls, ignorable code points,
// noncharacters, unassigned code points or conjoining Hangul jamo), with the
// RFC 5892 context rules that the precis package applies, normalized to NFC
// and otherwise kept as typed. The RFC 5893 bidi rule is not applied: it is
// meant for domain labels and refuses ordinary mixed-direction names
// ("Ana דני"); the characters that make text look reordered (bidi controls)
// are refused instead.
//
// # Rules
//
// The name must be valid UTF-8 and non-empty; it is normalized to NFC and
// must then be 1 to MaxChars characters (code points). Each character is
// checked in order, and the first one refused gives the reason:
//
//   - control characters (Cc);
//   - bidirectional controls: U+061C, U+200E, U+200F, U+202A–U+202E,
//     U+2066–U+2069;
//   - the line and paragraph separators U+2028 and U+2029;
//   - tag characters, U+E0000–U+E007F;
//   - invisible characters: every Default_Ignorable_Code_Point (zero-width
//     space and joiners, word joiner, byte-order mark, U+180E, the Hangul
//     fillers U+115F, U+1160, U+3164, U+FFA0, variation selectors, …) and
//     every other format character (Cf);
//   - noncharacters (U+FDD0–U+FDEF and the last two code points of every
//     plane);
//   - private-use characters (U+E000–U+F8FF and planes 15 and 16);
//   - code points unassigned in the Unicode version of the tables
//     (unicode.Version);
//   - spaces other than U+0020 (no-break, ideographic, en and em spaces
//     look like a space but make a different name);
//   - in a client id, "/" (it ends the path segment);
//   - conjoining Hangul jamo left after NFC composition;
//   - the characters RFC 5892 excludes by exception (U+0640, U+07FA,
//     U+302E, U+302F, U+3031–U+3035, U+303B);
//   - the RFC 5892 context rules: U+00B7 only between two "l", U+0375 only
//     before a Greek letter, U+05F3 and U+05F4 only after a Hebrew letter,
//     U+30FB only in a name with Hiragana, Katakana or Han, and Arabic-Indic
//     digits never mixed with extended Arabic-Indic digits.
//
// Then the spaces: a name may not be only spaces, start or end with a
// space, or hold two spaces in a row (a browser shows two spaces as one).
// Finally the precis profile itself must accept the name; the rules above
// refuse everything it refuses, so its refusal is a safety net.
//
// Upper and lower case stay distinct ("Ana" and "ana" are two names), and
// look-alike letters from different scripts are not folded: against
// impersonation by look-alikes, signed tokens are the answer, not names.
// An emoji with its presentation selector (U+FE0F) is refused with the
// other invisible characters; the plain emoji is accepted.
//
// web/names.js applies the same rules in the browser, with the same
// reasons, so a page can say why before it connects.
//
// # Usage
//
//	id, err := names.ClientID(r.PathValue("client_id"))
//	if err != nil {
//		http.Error(w, "bad client_id: "+err.Error(), http.StatusBadRequest) // "bad client_id: starts or ends with a space"
//		return
//	}
//	room, err := names.Room(r.URL.Query().Get("room"))
//	if err != nil {
//		http.Error(w, "bad room: "+err.Error(), http.StatusBadRequest)
//		return
//	}
//	// id and room are NFC: "café" typed as NFC or NFD is one name.
package names
