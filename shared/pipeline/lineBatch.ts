import { Buffer } from "node:buffer";
import type { ClaimRequest } from "../state/claims.js";

/** Room for a typical batch of documents (500 of 1–4 KB); a batch that needs more grows its buffer once. */
const INITIAL_BYTES = 1 << 20;

/**
 * One batch of NDJSON lines with each line's claim (none: written unclaimed), the lines UTF-8 encoded
 * as they are added. A batch's lines wait out its claims' round trip before they are written: kept as
 * strings for that long they would outlive V8's young generation and be promoted to the old space, as
 * garbage that only a full collection frees (most of the worker's peak RSS on a large blob). Encoded at
 * once, the strings die young, and the bytes go to the writer as one chunk with no further copy. A
 * batch is reused once its bytes are written, so its buffer is allocated once per work item.
 */
export class LineBatch {
  private bytes = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  private length = 0;
  /** Where each line ends in `bytes`. */
  private readonly ends: number[] = [];
  readonly claims: (ClaimRequest | undefined)[] = [];

  get size(): number {
    return this.ends.length;
  }

  add(line: string, claim: ClaimRequest | undefined): void {
    // A UTF-16 code unit takes at most 3 bytes of UTF-8: room for that is checked without measuring the line.
    const room = this.length + line.length * 3;
    if (room > this.bytes.length) this.grow(room);
    this.length += this.bytes.write(line, this.length);
    this.ends.push(this.length);
    this.claims.push(claim);
  }

  /** The bytes of the lines `keep` keeps, in order; the others are dropped in place. Valid until `clear`. */
  kept(keep: (index: number) => boolean): Buffer {
    let to = 0;
    let from = 0;
    for (let index = 0; index < this.ends.length; index += 1) {
      const end = this.ends[index]!;
      if (keep(index)) {
        if (to !== from) this.bytes.copyWithin(to, from, end);
        to += end - from;
      }
      from = end;
    }
    return this.bytes.subarray(0, to);
  }

  clear(): void {
    this.length = 0;
    this.ends.length = 0;
    this.claims.length = 0;
  }

  private grow(needed: number): void {
    const bytes = Buffer.allocUnsafeSlow(Math.max(needed, this.bytes.length * 2));
    this.bytes.copy(bytes, 0, 0, this.length);
    this.bytes = bytes;
  }
}
