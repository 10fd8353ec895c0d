import { Buffer, isAscii } from "node:buffer";

/**
 * One record splitter for every feed: a byte scanner that finds where each JSON value of a stream
 * starts and ends, tracking only strings, backslash escapes and nesting depth, and hands each slice
 * to JSON.parse. Nothing is tokenized twice and only the current value's bytes are held, so memory
 * is bounded by the largest value, not the input.
 *
 * - If the first significant byte (after an optional UTF-8 BOM and whitespace) is `[`, the input is
 *   a JSON array and its elements are yielded; an element ends at a `,` or `]` outside any string
 *   and nesting. Further arrays after the first (`cat a.json b.json`) are read the same way.
 * - Otherwise it is a sequence of values: NDJSON, pretty-printed objects, values written one after
 *   another. A line that does not start with `{`, `[` or `"` is read up to its end, so a stray line
 *   such as `hello` is one error item and the next line is read afresh.
 *
 * A bad value never stops the good ones: it becomes an error item that keeps its text and says what
 * is wrong and where. To get back in step after a value whose brackets or quotes never close, a line
 * that starts with `{` or `[` at the very column where the unfinished value started is taken as the
 * start of the next one (NDJSON, and the elements of a pretty-printed array, line up that way; the
 * nested values of pretty-printed JSON are indented deeper, except in output printed with no
 * indentation at all).
 */

/** Where an item starts. */
export interface SplitPosition {
  /** Bytes before it, counting a BOM. */
  offset: number;
  /** 1-based. */
  line: number;
  /** 1-based, in characters (code points); a BOM takes none. */
  column: number;
}

export type SplitItem =
  /** A value, parsed, with the text JSON.parse read it from (the caller may keep it as the value's original). */
  | { kind: "value"; value: unknown; text: string; position: SplitPosition }
  | { kind: "error"; text: string; message: string; position: SplitPosition };

/** The values of `source`, in order, each with where it starts; a bad one as an error item in its place. */
export async function* splitJson(source: AsyncIterable<Buffer | string>): AsyncGenerator<SplitItem> {
  const splitter = new JsonSplitter();
  for await (const chunk of source) {
    for (const item of splitter.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk)) yield item;
  }
  for (const item of splitter.end()) yield item;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const EMPTY = Buffer.alloc(0);

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const BACKSLASH = 0x5c;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** What a byte means to the scanner; most bytes mean nothing (PLAIN), which one table lookup decides. */
const PLAIN = 0;
const CONTINUATION = 1; // a UTF-8 continuation byte: no column of its own
const NEWLINE = 2;
const STRING_QUOTE = 3;
const ESCAPE = 4;
const OPENER = 5;
const CLOSER = 6;
const SEPARATOR = 7;

function byteTable(entries: [number, number][]): Uint8Array {
  const table = new Uint8Array(256);
  table.fill(CONTINUATION, 0x80, 0xc0);
  for (const [byte, kind] of entries) table[byte] = kind;
  return table;
}
const INSIDE_STRING = byteTable([
  [LF, NEWLINE],
  [QUOTE, STRING_QUOTE],
  [BACKSLASH, ESCAPE],
]);
const OUTSIDE_STRING = byteTable([
  [LF, NEWLINE],
  [QUOTE, STRING_QUOTE],
  [OPEN_BRACE, OPENER],
  [OPEN_BRACKET, OPENER],
  [CLOSE_BRACE, CLOSER],
  [CLOSE_BRACKET, CLOSER],
  [COMMA, SEPARATOR],
]);

type Mode = "undecided" | "array" | "sequence";

/**
 * between: outside any value (in array mode, outside any array); gap: in an array, before an element;
 * element: in an array element; value: in a bracketed or quoted value of a sequence;
 * line: in a line read to its end (a bare line of a sequence, or text outside the arrays).
 */
type Phase = "between" | "gap" | "element" | "value" | "line";

/** splitJson's scanner, for a caller that feeds it chunks itself: push each chunk, then end. */
export class JsonSplitter {
  private items: SplitItem[] = [];
  private mode: Mode = "undecided";
  private first: number | undefined;
  private phase: Phase = "between";
  /** The first bytes, held back while they could still be a BOM. */
  private head: Buffer | undefined = EMPTY;

  // Position of the scan: the chunk's offset in the input, and the current line.
  private base = 0;
  private line = 1;
  private lineStart = 0;
  /** UTF-8 continuation bytes on the current line before the scan position, for columns in characters. */
  private lineContinuations = 0;

  // The unfinished value: where it starts, its bytes from earlier chunks, and the scan state inside it.
  private start: SplitPosition = { offset: 0, line: 1, column: 1 };
  private pieces: Buffer[] = [];
  private textFrom = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** A line break inside the value, with the next line's indentation still running at the chunk's end. */
  private indentPending = false;

  /**
   * For the chunk being scanned, when it is all ASCII: where its next backslash and next line break are
   * (its length when there is none), found by the native search and kept until the scan passes them.
   * Inside a string, the scan then jumps from quote to quote; -1: not ASCII, byte by byte.
   */
  private nextBackslash = -1;
  private nextLineBreak = -1;

  /** Values (or array elements) begun so far, to number them in messages. */
  private count = 0;
  private array: SplitPosition | undefined;
  private afterComma = false;
  private lastArrayEnd: SplitPosition | undefined;

  /** The input's first significant byte (after a BOM and whitespace), once read: `[` makes it an array. */
  get firstByte(): number | undefined {
    return this.first;
  }

  /** True while the input read so far stops inside a JSON array: before its closing bracket, so cut short if it ends here. */
  get insideArray(): boolean {
    return this.phase === "gap" || this.phase === "element";
  }

  push(input: Buffer): SplitItem[] {
    let chunk = input;
    let from = 0;
    if (this.head !== undefined) {
      chunk = this.head.length > 0 ? Buffer.concat([this.head, input]) : input;
      if (chunk.length < BOM.length && BOM.subarray(0, chunk.length).equals(chunk)) {
        this.head = chunk;
        return [];
      }
      this.head = undefined;
      if (chunk.subarray(0, BOM.length).equals(BOM)) {
        from = BOM.length;
        this.lineStart = BOM.length;
      }
    }
    return this.scan(chunk, from);
  }

  end(): SplitItem[] {
    if (this.head !== undefined && this.head.length > 0) {
      // Fewer bytes than a BOM in all: they are content after all.
      const head = this.head;
      this.head = undefined;
      this.items = this.scan(head, 0);
    }
    const atEnd = this.positionAt(0);
    this.textFrom = 0;
    switch (this.phase) {
      case "line":
        this.finishLine(EMPTY, 0);
        break;
      case "value":
        this.unfinished(atEnd);
        break;
      case "element":
        if (this.depth === 0 && !this.inString) {
          this.finish(EMPTY, 0);
          this.arrayNotClosed(atEnd);
        } else {
          this.unfinished(atEnd);
        }
        break;
      case "gap":
        this.arrayNotClosed(atEnd);
        break;
      case "between":
        break;
    }
    return this.take();
  }

  private take(): SplitItem[] {
    const items = this.items;
    this.items = [];
    return items;
  }

  private scan(chunk: Buffer, from: number): SplitItem[] {
    const length = chunk.length;
    this.textFrom = 0;
    const ascii = isAscii(chunk);
    this.nextBackslash = ascii ? nextIndex(chunk, BACKSLASH, from) : -1;
    this.nextLineBreak = ascii ? nextIndex(chunk, LF, from) : -1;
    let i = from;
    if (this.indentPending) {
      const restart = this.startsNextValue(chunk, i);
      if (restart >= 0) i = restart;
    }
    while (i < length) {
      switch (this.phase) {
        case "between":
          i = this.between(chunk, i);
          break;
        case "gap":
          i = this.gap(chunk, i);
          break;
        case "element":
        case "value":
          i = this.inValue(chunk, i);
          break;
        case "line":
          i = this.inLine(chunk, i);
          break;
      }
    }
    if (this.phase === "element" || this.phase === "value" || this.phase === "line") {
      if (this.textFrom < length) this.pieces.push(chunk.subarray(this.textFrom));
    }
    this.base += length;
    return this.take();
  }

  private positionAt(index: number): SplitPosition {
    const offset = this.base + index;
    return { offset, line: this.line, column: offset - this.lineStart - this.lineContinuations + 1 };
  }

  private newline(index: number): void {
    this.line += 1;
    this.lineStart = this.base + index + 1;
    this.lineContinuations = 0;
  }

  /** Skips whitespace; returns the index of the next significant byte, or the chunk's length. */
  private skipWhitespace(chunk: Buffer, from: number): number {
    let i = from;
    for (; i < chunk.length; i += 1) {
      const byte = chunk[i]!;
      if (byte === LF) this.newline(i);
      else if (byte !== SPACE && byte !== TAB && byte !== CR) break;
    }
    return i;
  }

  private begin(index: number, phase: Phase): void {
    this.phase = phase;
    this.start = this.positionAt(index);
    this.pieces = [];
    this.textFrom = index;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.indentPending = false;
    if (phase !== "line" || this.mode === "sequence") this.count += 1;
  }

  private between(chunk: Buffer, from: number): number {
    const i = this.skipWhitespace(chunk, from);
    if (i === chunk.length) return i;
    const byte = chunk[i]!;
    if (this.mode === "undecided") {
      this.first = byte;
      this.mode = byte === OPEN_BRACKET ? "array" : "sequence";
    }
    if (this.mode === "array") {
      if (byte === OPEN_BRACKET) {
        this.array = this.positionAt(i);
        this.afterComma = false;
        this.phase = "gap";
        return i + 1;
      }
      this.begin(i, "line");
      return i;
    }
    this.begin(i, byte === OPEN_BRACE || byte === OPEN_BRACKET || byte === QUOTE ? "value" : "line");
    return i;
  }

  private gap(chunk: Buffer, from: number): number {
    const i = this.skipWhitespace(chunk, from);
    if (i === chunk.length) return i;
    const byte = chunk[i]!;
    if (byte === CLOSE_BRACKET) {
      if (this.afterComma) this.emptyElement(i, "]");
      this.closeArray(i);
      return i + 1;
    }
    if (byte === COMMA) {
      this.emptyElement(i, ",");
      this.afterComma = true;
      return i + 1;
    }
    this.begin(i, "element");
    return i;
  }

  /** The hot loop: bytes of an element or value, until it ends or the chunk does. */
  private inValue(chunk: Buffer, from: number): number {
    const length = chunk.length;
    const sequence = this.phase === "value";
    let depth = this.depth;
    let inString = this.inString;
    let escaped = this.escaped;
    let continuations = this.lineContinuations;
    let i = from;
    for (; i < length; i += 1) {
      let kind: number;
      if (inString) {
        if (escaped) {
          escaped = false;
          // An escaped line break is invalid, but still a line.
          if (chunk[i] !== LF) continue;
          kind = NEWLINE;
        } else {
          if (this.nextBackslash >= 0) {
            // An ASCII chunk has no continuation bytes: inside a string only a quote, a backslash or a line
            // break means anything, and the native search finds the next of each.
            if (this.nextBackslash < i) this.nextBackslash = nextIndex(chunk, BACKSLASH, i);
            if (this.nextLineBreak < i) this.nextLineBreak = nextIndex(chunk, LF, i);
            i = Math.min(nextIndex(chunk, QUOTE, i), this.nextBackslash, this.nextLineBreak);
          } else {
            // Most bytes mean nothing to the scan: one tight loop skips them.
            while (i < length && INSIDE_STRING[chunk[i]!] === PLAIN) i += 1;
          }
          if (i === length) break;
          kind = INSIDE_STRING[chunk[i]!]!;
          if (kind === STRING_QUOTE) {
            inString = false;
            if (sequence && depth === 0) {
              this.lineContinuations = continuations;
              this.finish(chunk, i + 1);
              return i + 1;
            }
            continue;
          }
          if (kind === ESCAPE) {
            escaped = true;
            continue;
          }
        }
      } else {
        while (i < length && OUTSIDE_STRING[chunk[i]!] === PLAIN) i += 1;
        if (i === length) break;
        const byte = chunk[i]!;
        kind = OUTSIDE_STRING[byte]!;
        if (kind === STRING_QUOTE) {
          inString = true;
          continue;
        }
        if (kind === OPENER) {
          depth += 1;
          continue;
        }
        if (kind === CLOSER) {
          if (depth > 0) {
            depth -= 1;
            if (sequence && depth === 0) {
              this.lineContinuations = continuations;
              this.finish(chunk, i + 1);
              return i + 1;
            }
          } else if (byte === CLOSE_BRACKET) {
            // Only an element (depth 0) gets here: the end of the array.
            this.lineContinuations = continuations;
            this.finish(chunk, i);
            this.closeArray(i);
            return i + 1;
          }
          continue;
        }
        if (kind === SEPARATOR) {
          if (depth === 0 && !sequence) {
            this.lineContinuations = continuations;
            this.finish(chunk, i);
            this.afterComma = true;
            return i + 1;
          }
          continue;
        }
      }
      if (kind === CONTINUATION) {
        continuations += 1;
        continue;
      }
      // A line break inside the value (kind is NEWLINE).
      this.newline(i);
      continuations = 0;
      this.depth = depth;
      this.inString = inString;
      this.escaped = escaped;
      const restart = this.startsNextValue(chunk, i + 1);
      if (restart >= 0) {
        depth = 0;
        inString = false;
        escaped = false;
        i = restart - 1;
      }
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    this.lineContinuations = continuations;
    return length;
  }

  /**
   * After a line break inside an unfinished value: if the new line starts with `{` or `[` at the
   * column where that value started, the value ends before it and a new one starts there. Returns
   * the new value's index, or -1 to carry on (also when the indentation runs past the chunk).
   */
  private startsNextValue(chunk: Buffer, from: number): number {
    let i = from;
    while (i < chunk.length && (chunk[i] === SPACE || chunk[i] === TAB)) i += 1;
    this.indentPending = i === chunk.length;
    if (this.indentPending) return -1;
    const byte = chunk[i]!;
    // Only spaces and tabs since the line started, so the column is the byte distance.
    if ((byte !== OPEN_BRACE && byte !== OPEN_BRACKET) || this.base + i - this.lineStart + 1 !== this.start.column) return -1;
    const phase = this.phase;
    this.finish(chunk, i);
    this.begin(i, phase);
    return i;
  }

  private inLine(chunk: Buffer, from: number): number {
    const end = chunk.indexOf(LF, from);
    if (end < 0) return chunk.length;
    this.finishLine(chunk, end);
    this.newline(end);
    return end + 1;
  }

  /** The unfinished value's text, from its start up to (not including) chunk[end]. */
  private textUpTo(chunk: Buffer, end: number): string {
    if (this.pieces.length === 0) return chunk.toString("utf8", this.textFrom, end);
    this.pieces.push(chunk.subarray(this.textFrom, end));
    const text = Buffer.concat(this.pieces).toString("utf8");
    this.pieces = [];
    return text;
  }

  /** Ends the value at chunk[end] and yields it, parsed, or an error naming what JSON.parse found and where. */
  private finish(chunk: Buffer, end: number): void {
    const text = this.textUpTo(chunk, end);
    this.phase = this.mode === "array" ? "gap" : "between";
    this.textFrom = end;
    try {
      this.items.push({ kind: "value", value: JSON.parse(text), text, position: this.start });
    } catch (error) {
      this.error(text, `${this.describe()} is not valid JSON: ${locateParseError(error, text, this.start)}`);
    }
  }

  private finishLine(chunk: Buffer, end: number): void {
    if (this.mode === "sequence") {
      this.finish(chunk, end);
      return;
    }
    const text = this.textUpTo(chunk, end);
    this.phase = "between";
    this.textFrom = end;
    const array = this.lastArrayEnd;
    this.error(text, `text at line ${this.start.line} column ${this.start.column} is outside the JSON array${array ? `, which ends at line ${array.line} column ${array.column}` : ""}`);
  }

  /** The input ended inside a value. */
  private unfinished(atEnd: SplitPosition): void {
    const text = this.textUpTo(EMPTY, 0);
    this.error(text, `${this.describe()} is not valid JSON: the input ends inside it, at ${describePosition(atEnd)}`);
  }

  /** A `,` or `]` where an element should be: `[1,,2]`, `[,1]`, `[1,]`. */
  private emptyElement(index: number, terminator: "," | "]"): void {
    this.count += 1;
    this.start = this.positionAt(index);
    this.error("", `${this.describe()} is empty: no value before this "${terminator}"`);
  }

  private closeArray(index: number): void {
    this.array = undefined;
    this.lastArrayEnd = this.positionAt(index);
    this.phase = "between";
  }

  private arrayNotClosed(atEnd: SplitPosition): void {
    const array = this.array!;
    this.start = array;
    this.error("", `the JSON array at line ${array.line} column ${array.column} is not closed: the input ends at ${describePosition(atEnd)}`);
  }

  private describe(): string {
    return `${this.mode === "array" ? "element" : "value"} ${this.count} at line ${this.start.line} column ${this.start.column}`;
  }

  private error(text: string, message: string): void {
    this.items.push({ kind: "error", text: text.trimEnd(), message, position: this.start });
  }
}

/** Where `byte` next is in `chunk` from `from`, or the chunk's length. */
function nextIndex(chunk: Buffer, byte: number, from: number): number {
  const at = chunk.indexOf(byte, from);
  return at < 0 ? chunk.length : at;
}

function describePosition(position: SplitPosition): string {
  return `line ${position.line} column ${position.column} (offset ${position.offset})`;
}

/** V8 says where it failed as a position in the slice it was given (Node 22 adds the slice's own line and column). */
const PARSE_POSITION = / in JSON at position (\d+)(?: \(line \d+ column \d+\))?/;

/** JSON.parse's message, with the position it names (if any) as a line and column of the input. */
function locateParseError(error: unknown, text: string, start: SplitPosition): string {
  const message = error instanceof Error ? error.message : String(error);
  const match = PARSE_POSITION.exec(message);
  if (!match) return message;
  const before = text.slice(0, Number(match[1]));
  const lastBreak = before.lastIndexOf("\n");
  let line = start.line;
  for (let at = before.indexOf("\n"); at >= 0; at = before.indexOf("\n", at + 1)) line += 1;
  const column = lastBreak < 0 ? start.column + codePoints(before) : codePoints(before.slice(lastBreak + 1)) + 1;
  const where = describePosition({ offset: start.offset + Buffer.byteLength(before), line, column });
  return `${message.slice(0, match.index)} at ${where}${message.slice(match.index + match[0].length)}`;
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}
