/**
 * Netlink attribute (struct nlattr) encoding and decoding: a 4-byte header (u16 length including the
 * header, u16 type), the payload, then zero padding to a 4-byte boundary. Nested attributes carry
 * NLA_F_NESTED in the type. Everything here is host (little-endian) byte order unless named `be`.
 */

export const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;
const NLA_ALIGNTO = 4;

export function align(length: number): number {
  return (length + NLA_ALIGNTO - 1) & ~(NLA_ALIGNTO - 1);
}

/** One attribute with its padding. */
export function attr(type: number, payload: Buffer): Buffer {
  const length = 4 + payload.length;
  if (length > 0xffff) throw new RangeError(`netlink attribute ${type} too long (${length} bytes)`);
  const out = Buffer.alloc(align(length));
  out.writeUInt16LE(length, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

/** A nested attribute (NLA_F_NESTED set) holding the given, already encoded, attributes. */
export function nested(type: number, children: Buffer[]): Buffer {
  return attr(type | NLA_F_NESTED, Buffer.concat(children));
}

export function u8(value: number): Buffer {
  const b = Buffer.alloc(1);
  b.writeUInt8(value);
  return b;
}

export function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(value);
  return b;
}

export function u16be(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value);
  return b;
}

export function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  return b;
}

/** A NUL-terminated string payload. */
export function cstring(value: string): Buffer {
  return Buffer.concat([Buffer.from(value, 'utf8'), Buffer.alloc(1)]);
}

/** Decodes a run of attributes into type -> payload (the last one wins; flags stripped from type). */
export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let offset = 0;
  while (offset + 4 <= buf.length) {
    const length = buf.readUInt16LE(offset);
    const type = buf.readUInt16LE(offset + 2) & NLA_TYPE_MASK;
    if (length < 4 || offset + length > buf.length) break;
    out.set(type, buf.subarray(offset + 4, offset + length));
    offset += align(length);
  }
  return out;
}

export function readCString(payload: Buffer): string {
  const nul = payload.indexOf(0);
  return payload.subarray(0, nul < 0 ? payload.length : nul).toString('utf8');
}
