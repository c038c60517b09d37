import { describe, expect, it } from 'vitest';
import { sniffImage } from '../../src/server/images/imageType.js';
import { jpegHeader, png } from '../helpers/images.js';

function riff(chunk: string, payload: number[]): Uint8Array {
  const body = [...Buffer.from('WEBP'), ...Buffer.from(chunk), 0, 0, 0, 0, ...payload];
  const out = Buffer.alloc(8 + body.length + 16);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(body.length, 4);
  out.set(body, 8);
  return out;
}

describe('sniffImage', () => {
  it('reads PNG and JPEG sizes from their headers', () => {
    expect(sniffImage(png(7, 3))).toEqual({ type: 'image/png', width: 7, height: 3 });
    expect(sniffImage(jpegHeader(1280, 720))).toEqual({ type: 'image/jpeg', width: 1280, height: 720 });
  });

  it('reads the three WebP flavours (lossy, lossless, extended)', () => {
    // VP8: frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
    expect(sniffImage(riff('VP8 ', [0, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]))).toEqual({
      type: 'image/webp',
      width: 640,
      height: 480,
    });
    // VP8L: signature 0x2f, then (width-1) | (height-1) << 14.
    const bits = (100 - 1) | ((50 - 1) << 14);
    expect(sniffImage(riff('VP8L', [0x2f, bits & 0xff, (bits >> 8) & 0xff, (bits >> 16) & 0xff, bits >>> 24]))).toEqual({
      type: 'image/webp',
      width: 100,
      height: 50,
    });
    // VP8X: flags (4 bytes), then 24-bit width-1 and height-1.
    expect(sniffImage(riff('VP8X', [0, 0, 0, 0, 0xff, 0x03, 0, 0xff, 0x01, 0]))).toEqual({
      type: 'image/webp',
      width: 1024,
      height: 512,
    });
  });

  it('refuses what is not a JPEG, PNG or WebP, or is cut short', () => {
    for (const text of ['<!doctype html><script>alert(1)</script>', 'GIF89a......', '<svg/>', '']) {
      expect(sniffImage(Buffer.from(text)), text).toBeNull();
    }
    expect(sniffImage(png(2, 2).subarray(0, 20))).toBeNull();
    expect(sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBeNull();
    // A JPEG whose scan starts before any frame header has no size to read.
    expect(sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 0]))).toBeNull();
    // A PNG of zero width.
    expect(sniffImage(png(1, 1).fill(0, 16, 20))).toBeNull();
  });
});
