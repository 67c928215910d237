// names.js: the rules for client ids and room names, as the server applies
// them (internal/names), so the page can say why before it connects. The
// server is the authority; the reasons are the same texts, so a refusal
// reads the same whether it comes from here or from the server's
// "bad client_id: ..." answer.
//
//   import { checkName } from "./names.js";
//   const { value, error } = checkName(input.value, "client_id"); // or "room"
//   if (error) show(`bad client_id: ${error}`); else connect(value); // value is NFC

export const MAX_CHARS = 32;

// A character's canonical decomposition is at most 4 code points, so a name
// longer than this is still too long after NFC composition.
const MAX_COMPOSE = 4;

const cc = /\p{Cc}/u;
const invisible = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/u;
const nonchar = /\p{Noncharacter_Code_Point}/u;
const privateUse = /\p{Co}/u;
const unassigned = /\p{Cn}/u;
const space = /\p{Zs}/u;
const greek = /\p{Script=Greek}/u;
const hebrew = /\p{Script=Hebrew}/u;
const japanese = /[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Han}]/u;
const loneSurrogate = /\p{Cs}/u;

// RFC 5892 section 2.6: disallowed by exception.
const exceptions = new Set([0x0640, 0x07fa, 0x302e, 0x302f, 0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x303b]);

function hex(cp) {
  return "U+" + cp.toString(16).toUpperCase().padStart(4, "0");
}

function isBidiControl(cp) {
  return cp === 0x061c || cp === 0x200e || cp === 0x200f ||
    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

function isJamo(cp) {
  return (cp >= 0x1100 && cp <= 0x11ff) || (cp >= 0xa960 && cp <= 0xa97c) ||
    (cp >= 0xd7b0 && cp <= 0xd7c6) || (cp >= 0xd7cb && cp <= 0xd7fb);
}

// runeReason returns why the first refused character of chars, the code
// points of an NFC name, is refused, or "".
function runeReason(chars, isClientID) {
  let arabic = false, extArabic = false;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    const cp = c.codePointAt(0);
    const prev = i > 0 ? chars[i - 1] : "";
    const next = i + 1 < chars.length ? chars[i + 1] : "";
    if (cc.test(c)) return "contains a control character";
    if (isBidiControl(cp)) return `contains a bidirectional control character (${hex(cp)})`;
    if (cp === 0x2028 || cp === 0x2029) return `contains a line or paragraph separator (${hex(cp)})`;
    if (cp >= 0xe0000 && cp <= 0xe007f) return `contains a tag character (${hex(cp)})`;
    if (invisible.test(c)) return `contains an invisible character (${hex(cp)})`;
    if (nonchar.test(c)) return `contains a noncharacter (${hex(cp)})`;
    if (privateUse.test(c)) return `contains a private-use character (${hex(cp)})`;
    if (unassigned.test(c)) return `contains an unassigned code point (${hex(cp)})`;
    if (space.test(c) && c !== " ") return `contains a space other than U+0020 (${hex(cp)})`;
    if (c === "/" && isClientID) return "contains a slash (/)";
    if (isJamo(cp)) return `contains a conjoining Hangul jamo (${hex(cp)})`;
    if (exceptions.has(cp)) return `contains a character not allowed in names (${hex(cp)})`;
    if (cp === 0x00b7 && (prev !== "l" || next !== "l")) return "contains a middle dot (U+00B7) that is not between two l";
    if (cp === 0x0375 && !greek.test(next)) return "contains U+0375 that is not followed by a Greek letter";
    if ((cp === 0x05f3 || cp === 0x05f4) && !hebrew.test(prev)) return `contains ${hex(cp)} that is not preceded by a Hebrew letter`;
    if (cp === 0x30fb && !chars.some((x) => japanese.test(x))) return "contains U+30FB without any Hiragana, Katakana or Han character";
    if (cp >= 0x0660 && cp <= 0x0669) {
      if (extArabic) return "mixes Arabic-Indic and extended Arabic-Indic digits";
      arabic = true;
    } else if (cp >= 0x06f0 && cp <= 0x06f9) {
      if (arabic) return "mixes Arabic-Indic and extended Arabic-Indic digits";
      extArabic = true;
    }
  }
  return "";
}

// spaceReason returns why the spaces of n (only U+0020 by now) are refused,
// or "".
function spaceReason(n) {
  if (!/[^ ]/.test(n)) return "only spaces";
  if (n.startsWith(" ") || n.endsWith(" ")) return "starts or ends with a space";
  if (n.includes("  ")) return "contains two spaces in a row";
  return "";
}

// checkName checks value as a client id (kind "client_id") or a room name
// (kind "room") and returns { value, error }: value is the name normalized
// to NFC and error "" when it is accepted; value is "" and error the reason
// otherwise, to follow "bad client_id: " or "bad room: ".
export function checkName(value, kind) {
  const refuse = (error) => ({ value: "", error });
  const wellFormed = typeof value.isWellFormed === "function" ? value.isWellFormed() : !loneSurrogate.test(value);
  if (!wellFormed) return refuse("not valid UTF-8");
  if (value === "") return refuse("empty");
  if ([...value].length > MAX_COMPOSE * MAX_CHARS) return refuse(`longer than ${MAX_CHARS} characters`);
  const n = value.normalize("NFC");
  const chars = [...n];
  if (chars.length > MAX_CHARS) return refuse(`longer than ${MAX_CHARS} characters`);
  const reason = runeReason(chars, kind === "client_id") || spaceReason(n);
  if (reason) return refuse(reason);
  return { value: n, error: "" };
}
