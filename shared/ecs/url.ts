import { parse as parseDomain } from "tldts";
import { memoize } from "./doc.js";

/**
 * url.* as Elasticsearch's uri_parts processor writes it (elastic/elasticsearch
 * modules/ingest-common UriPartsProcessor.java): the text is parsed by java.net.URI, the strict
 * RFC 2396 parser, and when that rejects it (a SharePoint path with a space, a bad escape) by
 * java.net.URL, the lenient one; if both reject it there are no parts. The two parsers are
 * transcribed below from OpenJDK (java/net/URI.java Parser, java/net/URL.java constructor,
 * java/net/URLStreamHandler.java parseURL) rather than borrowed from WHATWG `URL`, which folds
 * case, drops default ports, normalizes dot segments and decodes differently.
 */

// --- java.net.URI's character classes (URI.java L_*/H_* masks): one bit per class, ASCII only.

const CLASS_TABLE = new Uint16Array(128);
let nextBit = 1;
function charClass(chars: string, escaped = false): number {
  const bit = nextBit;
  nextBit <<= 1;
  for (const c of chars) CLASS_TABLE[c.charCodeAt(0)] = (CLASS_TABLE[c.charCodeAt(0)] as number) | bit;
  return escaped ? bit | ESCAPED : bit;
}
const ESCAPED = 1 << 15; // URI.java L_ESCAPED: "%XX" and visible non-ASCII characters are allowed too
const ALPHA_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const DIGIT_CHARS = "0123456789";
const ALPHANUM_CHARS = ALPHA_CHARS + DIGIT_CHARS;
const UNRESERVED_CHARS = `${ALPHANUM_CHARS}-_.!~*'()`;
const USERINFO_CHARS = `${UNRESERVED_CHARS};:&=+$,`;
const DIGIT = charClass(DIGIT_CHARS);
const ALPHA = charClass(ALPHA_CHARS);
const ALPHANUM = charClass(ALPHANUM_CHARS);
const ALPHANUM_DASH = charClass(`${ALPHANUM_CHARS}-`);
const DIGIT_DOT = charClass(`${DIGIT_CHARS}.`);
const HEX = charClass(`${DIGIT_CHARS}ABCDEFabcdef`);
const SCHEME = charClass(`${ALPHANUM_CHARS}+-.`);
const SCOPE_ID = charClass(`${ALPHANUM_CHARS}_.`);
const URIC = charClass(`${UNRESERVED_CHARS};/?:@&=+$,[]`, true);
const PATH = charClass(`${UNRESERVED_CHARS}:@&=+$,;/`, true);
const USERINFO = charClass(USERINFO_CHARS, true);
const REG_NAME = charClass(`${UNRESERVED_CHARS}$,;:@&=+`, true);
const SERVER = charClass(`${USERINFO_CHARS}-.:@[]`, true);
const SERVER_PERCENT = charClass(`${USERINFO_CHARS}-.:@[]%`, true);

/** URI.java scanEscape: non-ASCII characters above U+0080 that are neither space (Zs, Zl, Zp) nor ISO control. */
function visibleNonAscii(c: number): boolean {
  return c > 0xa0 && c !== 0x1680 && !(c >= 0x2000 && c <= 0x200a) && c !== 0x2028 && c !== 0x2029 && c !== 0x202f && c !== 0x205f && c !== 0x3000;
}

function isHex(c: number): boolean {
  return c < 128 && ((CLASS_TABLE[c] as number) & HEX) !== 0;
}

/** The delimiters the parser looks for, one bit each. */
const DELIMITERS = new Uint8Array(128);
const [SLASH, QUESTION, HASH, COLON, AT, CLOSE, PERCENT] = [..."/?#:@]%"].map((c, i) => {
  DELIMITERS[c.charCodeAt(0)] = 1 << i;
  return 1 << i;
}) as [number, number, number, number, number, number, number];

/** Thrown (not an Error: nothing to capture) where java.net.URI throws URISyntaxException. */
const SYNTAX = { syntax: true } as const;
/** Thrown where java.net.URI lets a NumberFormatException escape: uri_parts then fails outright, without trying java.net.URL. */
const ABORT = { abort: true } as const;

/** The strict parse: what URI's getters return. */
interface Strict {
  scheme: string | undefined;
  userInfo: string | undefined;
  host: string | undefined;
  port: number;
  path: string | undefined;
  query: string | undefined;
  fragment: string | undefined;
}

/** java.net.URI.Parser over one string (requireServerAuthority false, as `new URI(String)`). */
class UriParser {
  private readonly s: string;
  private ipv6Bytes = 0;
  readonly out: Strict = { scheme: undefined, userInfo: undefined, host: undefined, port: -1, path: undefined, query: undefined, fragment: undefined };

  constructor(s: string) {
    this.s = s;
  }

  private at(p: number, end: number, c: number): boolean {
    return p < end && this.s.charCodeAt(p) === c;
  }

  /** Index of the first of the `stop` delimiters, or end; -1 when one of `err` comes first (Parser.scan(start, end, err, stop)). */
  private until(p: number, end: number, stop: number, err = 0): number {
    const s = this.s;
    for (; p < end; p++) {
      const c = s.charCodeAt(p);
      if (c >= 128) continue;
      const d = DELIMITERS[c] as number;
      if ((d & err) !== 0) return -1;
      if ((d & stop) !== 0) break;
    }
    return p;
  }

  /** Parser.scan(start, end, lowMask, highMask): characters of the class, and escapes where the class allows them. */
  private scan(p: number, end: number, mask: number): number {
    const s = this.s;
    while (p < end) {
      const c = s.charCodeAt(p);
      if (c < 128) {
        if (((CLASS_TABLE[c] as number) & mask) !== 0) {
          p++;
          continue;
        }
        if ((mask & ESCAPED) !== 0 && c === 37) {
          if (p + 3 <= end && isHex(s.charCodeAt(p + 1)) && isHex(s.charCodeAt(p + 2))) {
            p += 3;
            continue;
          }
          throw SYNTAX; // "Malformed escape pair"
        }
        break;
      }
      if ((mask & ESCAPED) !== 0 && visibleNonAscii(c)) {
        p++;
        continue;
      }
      break;
    }
    return p;
  }

  private check(p: number, end: number, mask: number): void {
    if (this.scan(p, end, mask) < end) throw SYNTAX;
  }

  parse(): Strict {
    const s = this.s;
    const n = s.length;
    let p = this.until(0, n, COLON, SLASH | QUESTION | HASH);
    if (p >= 0 && this.at(p, n, 58)) {
      if (p === 0) throw SYNTAX;
      this.check(0, 1, ALPHA);
      this.check(1, p, SCHEME);
      this.out.scheme = s.slice(0, p);
      p++;
      if (this.at(p, n, 47)) p = this.hierarchical(p, n);
      else {
        // Opaque (mailto:…): the scheme-specific part is no path.
        const q = this.until(p, n, HASH);
        if (q <= p) throw SYNTAX;
        this.check(p, q, URIC);
        p = q;
      }
    } else p = this.hierarchical(0, n);
    if (this.at(p, n, 35)) {
      this.check(p + 1, n, URIC);
      this.out.fragment = s.slice(p + 1);
      p = n;
    }
    if (p < n) throw SYNTAX;
    return this.out;
  }

  private hierarchical(p: number, n: number): number {
    if (this.at(p, n, 47) && this.at(p + 1, n, 47)) {
      p += 2;
      const q = this.until(p, n, SLASH | QUESTION | HASH);
      if (q > p) p = this.authority(p, q);
      else if (q >= n) throw SYNTAX; // an empty authority only before a path, query or fragment
    }
    let q = this.until(p, n, QUESTION | HASH);
    this.check(p, q, PATH);
    this.out.path = this.s.slice(p, q);
    p = q;
    if (this.at(p, n, 63)) {
      p++;
      q = this.until(p, n, HASH);
      this.check(p, q, URIC);
      this.out.query = this.s.slice(p, q);
      p = q;
    }
    return p;
  }

  /** Server-based if it parses as one, else registry-based (no host, port or user info). */
  private authority(p: number, n: number): number {
    const close = this.until(p, n, CLOSE);
    const serverChars = this.scan(p, n, close > p ? SERVER_PERCENT : SERVER) === n;
    const regChars = this.scan(p, n, REG_NAME) === n;
    if (serverChars) {
      try {
        if (this.server(p, n) === n) return n;
      } catch (thrown) {
        if (thrown !== SYNTAX) throw thrown;
      }
      this.out.userInfo = undefined;
      this.out.host = undefined;
      this.out.port = -1;
    }
    if (!regChars) throw SYNTAX;
    return n;
  }

  private server(p: number, n: number): number {
    const s = this.s;
    let q = this.until(p, n, AT, SLASH | QUESTION | HASH);
    if (q >= p && this.at(q, n, 64)) {
      this.check(p, q, USERINFO);
      this.out.userInfo = s.slice(p, q);
      p = q + 1;
    }
    if (this.at(p, n, 91)) {
      p++;
      q = this.until(p, n, CLOSE, SLASH | QUESTION | HASH);
      if (!(q > p && this.at(q, n, 93))) throw SYNTAX;
      const r = this.until(p, q, PERCENT);
      if (r > p) {
        this.ipv6(p, r);
        if (r + 1 === q) throw SYNTAX;
        this.check(r + 1, q, SCOPE_ID);
      } else this.ipv6(p, q);
      this.out.host = s.slice(p - 1, q + 1);
      p = q + 1;
    } else {
      q = this.ipv4Host(p, n);
      if (q <= p) q = this.hostname(p, n);
      p = q;
    }
    if (this.at(p, n, 58)) {
      p++;
      q = this.until(p, n, SLASH);
      if (q > p) {
        this.check(p, q, DIGIT);
        const port = Number(s.slice(p, q));
        if (port > 2147483647) throw SYNTAX; // Integer.parseInt overflows
        this.out.port = port;
        p = q;
      }
    }
    if (p < n) throw SYNTAX;
    return p;
  }

  /** Parser.scanByte: digits whose value fits in a byte; Integer.parseInt's overflow escapes as NumberFormatException. */
  private byte(p: number, n: number): number {
    const q = this.scan(p, n, DIGIT);
    if (q <= p) return q;
    const value = Number(this.s.slice(p, q));
    if (value > 2147483647) throw ABORT;
    return value > 255 ? p : q;
  }

  private scanIPv4(p: number, n: number, strict: boolean): number {
    const m = this.scan(p, n, DIGIT_DOT);
    if (m <= p || (strict && m !== n)) return -1;
    for (let part = 0; ; part++) {
      const q = this.byte(p, m);
      if (q <= p) break;
      p = q;
      if (part === 3) {
        if (q < m) break;
        return q;
      }
      if (!this.at(p, m, 46)) break;
      p++;
    }
    throw SYNTAX; // "Malformed IPv4 address"
  }

  /** Parser.parseIPv4Address: an IPv4 host, or -1 (any failure, NumberFormatException included, is swallowed). */
  private ipv4Host(start: number, n: number): number {
    let p: number;
    try {
      p = this.scanIPv4(start, n, false);
    } catch {
      return -1;
    }
    if (p > start && p < n && this.s.charCodeAt(p) !== 58) p = -1;
    if (p > start) this.out.host = this.s.slice(start, p);
    return p;
  }

  private takeIPv4(p: number, n: number): number {
    const q = this.scanIPv4(p, n, true);
    if (q <= p) throw SYNTAX;
    return q;
  }

  /** hostname = domainlabel [ "." ] | 1*( domainlabel "." ) toplabel [ "." ], the last label starting with a letter. */
  private hostname(start: number, n: number): number {
    const s = this.s;
    let p = start;
    let last = -1;
    do {
      let q = this.scan(p, n, ALPHANUM);
      if (q <= p) break;
      last = p;
      p = q;
      q = this.scan(p, n, ALPHANUM_DASH);
      if (q > p) {
        if (s.charCodeAt(q - 1) === 45) throw SYNTAX;
        p = q;
      }
      if (!this.at(p, n, 46)) break;
      p++;
    } while (p < n);
    if (p < n && !this.at(p, n, 58)) throw SYNTAX;
    if (last < 0) throw SYNTAX;
    if (last > start && ((CLASS_TABLE[s.charCodeAt(last)] as number) & ALPHA) === 0) throw SYNTAX;
    this.out.host = s.slice(start, p);
    return p;
  }

  /** Parser.parseIPv6Reference (RFC 2373 with the IPv4 tail), with its byte count. */
  private ipv6(start: number, n: number): number {
    let p = start;
    let compressed = false;
    const q = this.hexSeq(p, n);
    if (q > p) {
      p = q;
      if (this.at(p, n, 58) && this.at(p + 1, n, 58)) {
        compressed = true;
        p = this.hexPost(p + 2, n);
      } else if (this.at(p, n, 58)) {
        p = this.takeIPv4(p + 1, n);
        this.ipv6Bytes += 4;
      }
    } else if (this.at(p, n, 58) && this.at(p + 1, n, 58)) {
      compressed = true;
      p = this.hexPost(p + 2, n);
    }
    if (p < n || this.ipv6Bytes > 16 || (!compressed && this.ipv6Bytes < 16) || (compressed && this.ipv6Bytes === 16)) throw SYNTAX;
    return p;
  }

  private hexPost(p: number, n: number): number {
    if (p === n) return p;
    const q = this.hexSeq(p, n);
    if (q > p) {
      p = q;
      if (this.at(p, n, 58)) {
        p = this.takeIPv4(p + 1, n);
        this.ipv6Bytes += 4;
      }
    } else {
      p = this.takeIPv4(p, n);
      this.ipv6Bytes += 4;
    }
    return p;
  }

  private hexSeq(p: number, n: number): number {
    let q = this.scan(p, n, HEX);
    if (q <= p || this.at(q, n, 46)) return -1;
    if (q > p + 4) throw SYNTAX;
    this.ipv6Bytes += 2;
    p = q;
    while (p < n) {
      if (!this.at(p, n, 58) || this.at(p + 1, n, 58)) break;
      p++;
      q = this.scan(p, n, HEX);
      if (q <= p) throw SYNTAX;
      if (this.at(q, n, 46)) {
        p--;
        break;
      }
      if (q > p + 4) throw SYNTAX;
      this.ipv6Bytes += 2;
      p = q;
    }
    return p;
  }
}

// --- URI.decode: every run of "%XX" is one UTF-8 byte sequence, malformed input replaced by U+FFFD.

const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Java's UTF-8 decoder (sun.nio.cs.UTF_8) replaces as TextDecoder does, save one case: an encoded
 * surrogate (ED A0–BF, with its continuation byte if there is one) is one U+FFFD for Java, one per
 * byte for TextDecoder.
 */
function decodeBytes(bytes: Uint8Array): string {
  let text = "";
  let from = 0;
  for (let i = 0; i + 1 < bytes.length; i++) {
    const next = bytes[i + 1] as number;
    if (bytes[i] !== 0xed || next < 0xa0 || next > 0xbf) continue;
    text += `${UTF8.decode(bytes.subarray(from, i))}\ufffd`;
    i += i + 2 < bytes.length && ((bytes[i + 2] as number) & 0xc0) === 0x80 ? 2 : 1;
    from = i + 1;
  }
  return text + UTF8.decode(bytes.subarray(from));
}

function hexValue(c: number): number {
  return c <= 57 ? c - 48 : (c | 32) - 87;
}

/** URI.decode: only called on strictly parsed components, whose every "%" starts a valid escape. */
function decode(text: string | undefined): string | undefined {
  if (text === undefined) return text;
  let at = text.indexOf("%");
  if (at < 0) return text;
  let out = text.slice(0, at);
  while (at >= 0) {
    let end = at;
    let ascii = true;
    while (text.charCodeAt(end) === 37) {
      if (hexValue(text.charCodeAt(end + 1)) >= 8) ascii = false;
      end += 3;
    }
    if (ascii) {
      // The usual run: one ASCII byte ("%20"), no UTF-8 to decode.
      for (let k = at; k < end; k += 3) out += String.fromCharCode((hexValue(text.charCodeAt(k + 1)) << 4) | hexValue(text.charCodeAt(k + 2)));
    } else {
      const bytes = new Uint8Array((end - at) / 3);
      for (let k = 0; k < bytes.length; k++) bytes[k] = (hexValue(text.charCodeAt(at + 3 * k + 1)) << 4) | hexValue(text.charCodeAt(at + 3 * k + 2));
      out += decodeBytes(bytes);
    }
    at = text.indexOf("%", end);
    out += text.slice(end, at < 0 ? text.length : at);
  }
  return out;
}

// --- The lenient parse: java.net.URL(String) with the JDK's own protocol handlers.

/** What URL's getters return: host "" rather than null, raw (undecoded) components. */
interface Lenient {
  protocol: string;
  host: string;
  port: number;
  userInfo: string | undefined;
  path: string;
  query: string | undefined;
  ref: string | undefined;
}

/** Handlers whose parseURL is URLStreamHandler's (http, https, ftp, file, jrt, jmod); mailto and jar have their own. */
const DEFAULT_HANDLERS = new Set(["http", "https", "ftp", "file", "jrt", "jmod"]);

/** Character.digit(c, 10): ASCII digits and the other Unicode decimal digits (Nd) of the BMP. */
const DECIMAL = /\p{Nd}/u;
function digit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c < 128 || c > 0xffff || !DECIMAL.test(String.fromCharCode(c))) return -1;
  let zero = c;
  while (DECIMAL.test(String.fromCharCode(zero - 1)) && c - zero < 9) zero--;
  return c - zero;
}

/** Integer.parseInt(s, begin, end, 10): an optional sign, digits, within int range; NaN where Java throws. */
function parseJavaInt(s: string, begin: number, end: number): number {
  if (begin >= end) return Number.NaN;
  let i = begin;
  const first = s.charCodeAt(i);
  const negative = first === 45;
  if (first < 48) {
    if (!negative && first !== 43) return Number.NaN;
    if (end - begin === 1) return Number.NaN;
    i++;
  }
  let value = 0;
  for (; i < end; i++) {
    const d = digit(s.charCodeAt(i));
    if (d < 0) return Number.NaN;
    value = value * 10 + d;
    if (value > 2147483648) return Number.NaN;
  }
  if (!negative && value > 2147483647) return Number.NaN;
  return negative ? -value : value;
}

/** sun.net.util.IPAddressUtil.isIPv6LiteralAddress (textToNumericFormatV6): the host between brackets, a "%scope" allowed. */
function isIPv6Literal(src: string): boolean {
  if (src.length < 2) return false;
  const scope = src.indexOf("%");
  if (scope === src.length - 1) return false;
  const length = scope === -1 ? src.length : scope;
  let i = 0;
  let bytes = 0;
  let gap = -1;
  if (src.charCodeAt(0) === 58 && src.charCodeAt(++i) !== 58) return false;
  let token = i;
  let sawDigit = false;
  let value = 0;
  while (i < length) {
    const c = src.charCodeAt(i++);
    const hex = isHex(c) ? hexValue(c) : -1;
    if (hex >= 0) {
      value = (value << 4) | hex;
      if (value > 0xffff) return false;
      sawDigit = true;
    } else if (c === 58) {
      token = i;
      if (!sawDigit) {
        if (gap !== -1) return false;
        gap = bytes;
        continue;
      }
      if (i === length || bytes + 2 > 16) return false;
      bytes += 2;
      sawDigit = false;
      value = 0;
    } else if (c === 46 && bytes + 4 <= 16) {
      const v4 = src.slice(token, length);
      if (v4.split(".").length !== 4 || !isIPv4Text(v4)) return false;
      bytes += 4;
      sawDigit = false;
      break;
    } else return false;
  }
  if (sawDigit) {
    if (bytes + 2 > 16) return false;
    bytes += 2;
  }
  if (gap !== -1) {
    if (bytes === 16) return false;
    bytes = 16;
  }
  return bytes === 16;
}

/** IPAddressUtil.textToNumericFormatV4 for a text with three dots: four decimal parts of at most 255. */
function isIPv4Text(text: string): boolean {
  if (text.length === 0 || text.length > 15) return false;
  return text.split(".").every((part) => part !== "" && /^[0-9]+$/.test(part) && Number(part) <= 255);
}

/**
 * URLStreamHandler.setURL's checks on what every JDK handler sets (JDK 20 and later, the JDKs
 * Elasticsearch bundles: "early URL parsing", IPAddressUtil.checkHostString, checkUserInfo and
 * checkAuth): characters a host, a user info or an authority may not hold.
 */
const HOST_EXCLUDED = /[\x00-\x20"#/:<>?@[\\\]^`{|}\x7f\u2047-\u2049\u2100\u2101\u2105\u2106\u2a74\ufe55\ufe56\ufe5f\ufe6b\uff03\uff0f\uff1a\uff1f\uff20]/;
const SCOPE_EXCLUDED = /[\x00-\x1f#/?[\\\]\x7f]/;
const USERINFO_EXCLUDED = /[\x00-\x1f#/?@[\\\]\x7f]/;
const AUTHORITY_EXCLUDED = /[\x00-\x1f#/?\\\x7f]/;

function settable(host: string, userInfo: string | undefined, authority: string | undefined): boolean {
  if (host.startsWith("[") && host.endsWith("]")) {
    const literal = host.slice(1, -1);
    const scope = literal.indexOf("%");
    if (!isIPv6Literal(literal) || (scope >= 0 && SCOPE_EXCLUDED.test(literal.slice(scope)))) return false;
  } else if (HOST_EXCLUDED.test(host)) return false;
  return !(userInfo !== undefined && USERINFO_EXCLUDED.test(userInfo)) && !(authority !== undefined && AUTHORITY_EXCLUDED.test(authority));
}

/** Character.isWhitespace. */
const JAVA_WHITESPACE = /^[\t\n\v\f\r\x1c-\x1f \u1680\u2000-\u2006\u2008-\u200a\u2028\u2029\u205f\u3000]*$/;

/** The java.net.URL constructor: trims, takes the protocol and the "#" reference, and hands the rest to the protocol's handler. */
function lenient(spec: string): Lenient | undefined {
  let limit = spec.length;
  while (limit > 0 && spec.charCodeAt(limit - 1) <= 32) limit--;
  let start = 0;
  while (start < limit && spec.charCodeAt(start) <= 32) start++;
  if (spec.slice(start, start + 4).toLowerCase() === "url:") start += 4;
  if (spec.charCodeAt(start) === 35) return undefined; // a bare reference: no protocol
  let protocol: string | undefined;
  for (let i = start; i < limit; i++) {
    const c = spec.charCodeAt(i);
    if (c === 47) break;
    if (c === 58) {
      protocol = spec.slice(start, i).toLowerCase();
      start = i + 1;
      break;
    }
  }
  if (protocol === undefined) return undefined;
  let ref: string | undefined;
  const hash = spec.indexOf("#", start);
  if (hash >= 0) {
    ref = spec.slice(hash + 1, limit);
    limit = hash;
  }
  if (DEFAULT_HANDLERS.has(protocol)) return parseUrl(protocol, spec, start, limit, ref);
  if (protocol === "mailto") return mailto(spec.slice(start, limit));
  if (protocol === "jar") return jar(spec, start, limit);
  return undefined; // "unknown protocol"
}

/** URLStreamHandler.parseURL without a context URL. */
function parseUrl(protocol: string, spec: string, start: number, limit: number, ref: string | undefined): Lenient | undefined {
  let query: string | undefined;
  if (start < limit) {
    const queryStart = spec.indexOf("?");
    if (queryStart !== -1 && queryStart < limit) {
      query = spec.slice(queryStart + 1, limit);
      limit = queryStart;
      spec = spec.slice(0, queryStart);
    }
  }
  let authority: string | undefined;
  let userInfo: string | undefined;
  let host: string | undefined;
  let port = -1;
  let path: string | undefined;
  const unc = start <= limit - 4 && spec.startsWith("////", start);
  if (!unc && start <= limit - 2 && spec.startsWith("//", start)) {
    start += 2;
    let i = spec.indexOf("/", start);
    if (i < 0 || i > limit) {
      i = spec.indexOf("?", start);
      if (i < 0 || i > limit) i = limit;
    }
    host = authority = spec.slice(start, i);
    const at = authority.indexOf("@");
    if (at !== -1) {
      if (at !== authority.lastIndexOf("@")) host = undefined; // more than one "@": not server-based
      else {
        userInfo = authority.slice(0, at);
        host = authority.slice(at + 1);
      }
    }
    if (host !== undefined) {
      if (host.charCodeAt(0) === 91) {
        const close = host.indexOf("]");
        if (close <= 2 || !isIPv6Literal(host.slice(1, close))) return undefined;
        const rest = host;
        host = rest.slice(0, close + 1);
        if (rest.length > close + 1) {
          if (rest.charCodeAt(close + 1) !== 58) return undefined;
          if (rest.length > close + 2) port = parseJavaInt(rest, close + 2, rest.length);
        }
      } else {
        const colon = host.indexOf(":");
        if (colon >= 0) {
          if (host.length > colon + 1) port = parseJavaInt(host, colon + 1, host.length);
          host = host.slice(0, colon);
        }
      }
    }
    if (!(port >= -1)) return undefined; // NumberFormatException, or a port below -1
    start = i;
    if (authority !== "") path = "";
  }
  if (start < limit) {
    const rest = spec.slice(start, limit);
    path = spec.charCodeAt(start) === 47 || authority === undefined ? rest : `/${rest}`;
  }
  host ??= "";
  return settable(host, userInfo, authority) ? { protocol, host, port, userInfo, path: path ?? "", query, ref } : undefined;
}

/** The mailto handler: everything is the "file" (path?query), no host, no reference. */
function mailto(file: string): Lenient | undefined {
  if (JAVA_WHITESPACE.test(file)) return undefined; // "No email address"
  const q = file.lastIndexOf("?");
  return { protocol: "mailto", host: "", port: -1, userInfo: undefined, path: q === -1 ? file : file.slice(0, q), query: q === -1 ? undefined : file.slice(q + 1), ref: undefined };
}

/** The jar handler, absolute form only (there is no context URL): "<URL>!/<entry>", the inner URL parsed by java.net.URL too. */
function jar(spec: string, start: number, limit: number): Lenient | undefined {
  const hash = spec.indexOf("#", limit);
  const ref = hash > -1 ? spec.slice(hash + 1) : undefined;
  if (spec.slice(0, 4).toLowerCase() !== "jar:") return undefined; // relative form: needs a context
  const file = spec.slice(start, limit);
  let bang = file.lastIndexOf("!/");
  if (bang === -1) return undefined; // "no !/ in spec"
  bang += 1;
  if (!lenient(file.slice(0, bang - 1))) return undefined;
  const q = file.lastIndexOf("?");
  return { protocol: "jar", host: "", port: -1, userInfo: undefined, path: q === -1 ? file : file.slice(0, q), query: q === -1 ? undefined : file.slice(q + 1), ref };
}

// --- uri_parts' fields.

/** What either parser found, as uri_parts reads it through the getters. */
interface Found {
  scheme: string | undefined;
  domain: string | undefined;
  port: number;
  userInfo: string | undefined;
  path: string | undefined;
  query: string | undefined;
  fragment: string | undefined;
}

/**
 * The shape nearly every audit URL has, `http(s)://host.name/path?query#fragment` with a plain
 * DNS host, answered in one pass with what the two parsers above give for it (they agree on the
 * scheme, host and where each component ends; java.net.URI decodes and keeps the scheme's case,
 * java.net.URL takes over, raw, when any component holds a character URI refuses, such as a
 * space). Anything else, or undefined here, goes through the parsers.
 */
function common(s: string): Found | undefined {
  const n = s.length;
  if (n === 0 || ((CLASS_TABLE[s.charCodeAt(0)] as number) & ALPHA) === 0) return undefined;
  let i = 1;
  while (i < n && ((CLASS_TABLE[s.charCodeAt(i)] as number) & SCHEME) !== 0) i++;
  if (s.charCodeAt(i) !== 58 || s.charCodeAt(i + 1) !== 47 || s.charCodeAt(i + 2) !== 47) return undefined;
  const scheme = s.slice(0, i);
  const protocol = scheme.toLowerCase();
  if (!DEFAULT_HANDLERS.has(protocol)) return undefined;
  // The host: labels of letters, digits and inner dashes, the last one starting with a letter.
  const hostStart = i + 3;
  let p = hostStart;
  let label = p;
  for (; p < n; p++) {
    const c = s.charCodeAt(p);
    if (c === 47 || c === 63 || c === 35) break;
    if (c === 46) {
      if (p === label || s.charCodeAt(p - 1) === 45) return undefined;
      label = p + 1;
    } else if (c === 45) {
      if (p === label) return undefined;
    } else if (c >= 128 || ((CLASS_TABLE[c] as number) & ALPHANUM) === 0) return undefined;
  }
  if (p === label || s.charCodeAt(p - 1) === 45 || ((CLASS_TABLE[s.charCodeAt(label)] as number) & ALPHA) === 0) return undefined;
  const domain = s.slice(hostStart, p);
  // Path, query and fragment: where each ends, and whether java.net.URI accepts each one.
  let strict = true;
  let mask = PATH;
  let query = -1;
  let hash = -1;
  for (let k = p; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c === 63 && query < 0 && hash < 0) {
      query = k;
      mask = URIC;
    } else if (c === 35 && hash < 0) {
      hash = k;
      mask = URIC;
    } else if (!strict) continue;
    else if (c < 128) {
      if (((CLASS_TABLE[c] as number) & mask) !== 0) continue;
      // An escape's two hex digits cannot be the "?" or "#" that would end its component.
      if (c === 37 && isHex(s.charCodeAt(k + 1)) && isHex(s.charCodeAt(k + 2))) k += 2;
      else strict = false;
    } else if (!visibleNonAscii(c)) strict = false;
  }
  if (!strict && s.charCodeAt(n - 1) <= 32) return undefined; // java.net.URL would trim it
  const pathEnd = query >= 0 ? query : hash >= 0 ? hash : n;
  const path = s.slice(p, pathEnd);
  const rawQuery = query >= 0 ? s.slice(query + 1, hash >= 0 ? hash : n) : undefined;
  const fragment = hash >= 0 ? s.slice(hash + 1) : undefined;
  return strict
    ? { scheme, domain, port: -1, userInfo: undefined, path: decode(path), query: decode(rawQuery), fragment: decode(fragment) }
    : { scheme: protocol, domain, port: -1, userInfo: undefined, path, query: rawQuery, fragment };
}

/** java.net.URI, and java.net.URL where URI throws URISyntaxException; undefined where uri_parts fails. */
function parsed(original: string): Found | undefined {
  try {
    const uri = new UriParser(original).parse();
    return { scheme: uri.scheme, domain: uri.host, port: uri.port, userInfo: decode(uri.userInfo), path: decode(uri.path), query: decode(uri.query), fragment: decode(uri.fragment) };
  } catch (thrown) {
    if (thrown !== SYNTAX) return undefined;
    const url = lenient(original);
    return url && { scheme: url.protocol, domain: url.host, port: url.port, userInfo: url.userInfo, path: url.path, query: url.query, fragment: url.ref };
  }
}

/**
 * The parts uri_parts writes for `original`, or undefined where it fails. Never a null value:
 * only what the parse found (an empty path and an empty extension are found values). With the
 * registered-domain parts of the domain, as Elasticsearch's registered_domain processor gives them.
 */
export function urlParts(original: string): Record<string, unknown> | undefined {
  const found = common(original) ?? parsed(original);
  if (!found) return undefined;
  const parts: Record<string, unknown> = {};
  if (found.scheme !== undefined) parts.scheme = found.scheme;
  if (found.domain !== undefined) parts.domain = found.domain;
  if (found.port !== -1) parts.port = found.port;
  const path = found.path;
  if (path !== undefined) {
    parts.path = path;
    // From the last segment only (elastic/elasticsearch#105689): "/a.b/readme" has none, "/file." has "".
    const slash = path.lastIndexOf("/");
    const dot = path.lastIndexOf(".");
    if (slash >= 0 && dot > slash) parts.extension = path.slice(dot + 1);
  }
  if (found.query !== undefined) parts.query = found.query;
  if (found.fragment !== undefined) parts.fragment = found.fragment;
  const userInfo = found.userInfo;
  if (userInfo !== undefined) {
    parts.user_info = userInfo;
    const colon = userInfo.indexOf(":");
    if (colon >= 0) {
      parts.username = userInfo.slice(0, colon);
      parts.password = userInfo.slice(colon + 1);
    }
  }
  return found.domain ? Object.assign(parts, registeredDomainParts(found.domain)) : parts;
}

/**
 * registered_domain, top_level_domain and subdomain as Elasticsearch's registered_domain
 * processor (RegisteredDomainProcessor.java) derives them: Apache HttpClient's
 * PublicSuffixMatcher over the whole public suffix list, private domains included, which
 * lower-cases the domain it returns; the subdomain is found in the domain as written, so case
 * matters there. No parts for an IP, a single label or a suffix the list does not know
 * (`localhost`, `.example`), or a name with an empty label. A domain that is itself a public
 * suffix gets only its top_level_domain.
 */
export const registeredDomainParts = memoize(10_000, (host): Readonly<Record<string, string>> => {
  if (host.startsWith("[") || host.startsWith(".") || host.endsWith(".") || host.includes("..")) return {};
  const lower = host.replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
  const found = parseDomain(lower, { allowPrivateDomains: true, extractHostname: false });
  if (found.isIp || !(found.isIcann || found.isPrivate)) return {};
  const registered = found.domain;
  if (registered === null) return { top_level_domain: host };
  const at = host.lastIndexOf(`.${registered}`);
  return {
    registered_domain: registered,
    top_level_domain: registered.slice(registered.indexOf(".") + 1),
    ...(at > 0 ? { subdomain: host.slice(0, at) } : {}),
  };
});

/**
 * Registered domain, subdomain and TLD of a mail domain, as the message-trace feed has always
 * written them (ICANN suffixes only), once per host: a tenant's few hosts recur in every record.
 */
export const domainParts = memoize(10_000, (host): Readonly<Record<string, string>> => {
  const found = parseDomain(host);
  return {
    ...(found.domain ? { registered_domain: found.domain } : {}),
    ...(found.subdomain ? { subdomain: found.subdomain } : {}),
    ...(found.publicSuffix && !found.isIp ? { top_level_domain: found.publicSuffix } : {}),
  };
});
