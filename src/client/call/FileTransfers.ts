import { signal } from '@preact/signals';
import type { FileData } from '../rtc/PeerSession.js';

/**
 * Files sent peer to peer during a 1:1 call, over the call's second data channel ('files',
 * negotiated id 1; ordered and reliable). Loaded with the first call, not with the page.
 *
 * Wire format, all on one channel: JSON text for control, binary messages for the bytes of the
 * one transfer in progress in that direction (so chunks need no header):
 *
 *   sender → receiver   { t: 'offer', id, name, size }      receiver → sender   { t: 'accept', id }
 *                       <binary chunks, in order>                                { t: 'decline', id }
 *                       { t: 'end', id, sha256 }                                 { t: 'verdict', id, ok }
 *   either way          { t: 'cancel', id }
 *
 * One transfer at a time per direction. SHA-256 is of the whole file: SubtleCrypto has no
 * streaming digest, so the sender hashes the File while waiting for the answer and the receiver
 * hashes the assembled Blob at the end.
 */

/** Why a transfer did not complete, in the words the UI shows. */
export type TransferFailure = 'declined' | 'cancelledByMe' | 'cancelledByPeer' | 'connection' | 'checksum' | 'unreadable';
export type TransferState = 'offered' | 'transferring' | 'checking' | 'done' | 'failed';

export interface Transfer {
  id: string;
  direction: 'out' | 'in';
  /** As the sender named it; shown as text and used as the download name, never as HTML. */
  name: string;
  size: number;
  state: TransferState;
  /** Bytes that reached the other side (sent minus still buffered) or that arrived. */
  bytes: number;
  /** Bytes per second over the last few seconds; null until measurable. */
  speed: number | null;
  failure: TransferFailure | null;
  /** A received, checked file: an object URL to save it from (revoked by `dispose`). */
  url: string | null;
}

/** How the transfers reach the peer (the call's PeerSession). */
export interface FileLink {
  /** The open channel, or null when there is none (yet, or any more). */
  channel(): RTCDataChannel | null;
  /** Every message from the peer on the channel, in order. */
  listen(handler: (data: FileData) => void): void;
}

/** 64 KiB: the largest message every browser's SCTP accepts without fragmentation trouble. */
const CHUNK = 64 * 1024;
/** Read from disk a block at a time, sent as 16 chunks. */
const BLOCK = 16 * CHUNK;
/**
 * Backpressure: stop queueing above 8 MiB buffered, resume below 1 MiB. Enough queued to keep a
 * fast link busy between `bufferedamountlow` events, little enough to bound memory.
 */
const HIGH_WATER = 8 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;
/** Received chunks are gathered into a Blob every 8 MiB (the browser may keep Blobs on disk). */
const GATHER = 8 * 1024 * 1024;
const TICK_MS = 250;
const SPEED_WINDOW_MS = 3000;

interface Outgoing {
  id: string;
  file: File;
  hash: Promise<string | null>;
  stopped: boolean;
  /** Bytes handed to the channel. */
  queued: number;
  wake: (() => void) | null;
}

interface Incoming {
  id: string;
  size: number;
  received: number;
  parts: Blob[];
  pending: ArrayBuffer[];
  pendingBytes: number;
}

type Note =
  | { t: 'offer'; id: string; name: string; size: number }
  | { t: 'accept' | 'decline' | 'cancel'; id: string }
  | { t: 'end'; id: string; sha256: string }
  | { t: 'verdict'; id: string; ok: boolean };

export class FileTransfers {
  /** Every transfer of this call, oldest first. */
  readonly transfers = signal<readonly Transfer[]>([]);
  readonly #link: FileLink;
  #out: Outgoing | null = null;
  #in: Incoming | null = null;
  #samples = new Map<string, { t: number; bytes: number }[]>();
  #ticker: ReturnType<typeof setInterval> | null = null;
  #connected = true;

  constructor(link: FileLink) {
    this.#link = link;
    link.listen((data) => {
      this.#receive(data);
    });
  }

  /** A file is on its way out (offered or sending): one at a time. */
  get sending(): boolean {
    return this.#out !== null;
  }

  /** Some received file is ready to save (the call panel stays up for it after the call). */
  get hasDownloads(): boolean {
    return this.transfers.value.some((t) => t.url !== null);
  }

  /** Offers a file to the peer; the bytes follow when they accept. */
  send(file: File): void {
    if (this.#out || !this.#connected) return;
    const id = crypto.randomUUID();
    this.#add({ id, direction: 'out', name: file.name, size: file.size, state: 'offered', bytes: 0, speed: null, failure: null, url: null });
    const channel = this.#open();
    if (!channel) {
      this.#fail(id, 'connection');
      return;
    }
    const hash = sha256(file).catch(() => null);
    this.#out = { id, file, hash, stopped: false, queued: 0, wake: null };
    this.#note(channel, { t: 'offer', id, name: file.name, size: file.size });
  }

  accept(id: string): void {
    const channel = this.#open();
    if (this.#in?.id !== id || this.#find(id)?.state !== 'offered') return;
    if (!channel) {
      this.#fail(id, 'connection');
      return;
    }
    this.#note(channel, { t: 'accept', id });
    this.#update(id, { state: 'transferring' });
    this.#startTicking();
  }

  /** Refuses an incoming file: it leaves the list, and the sender is told. */
  decline(id: string): void {
    if (this.#in?.id !== id) return;
    this.#in = null;
    const channel = this.#open();
    if (channel) this.#note(channel, { t: 'decline', id });
    this.transfers.value = this.transfers.value.filter((t) => t.id !== id);
  }

  /** Stops a transfer in either direction, at any stage before it completes. */
  cancel(id: string): void {
    const t = this.#find(id);
    if (!t || t.state === 'done' || t.state === 'failed') return;
    const channel = this.#open();
    if (channel) this.#note(channel, { t: 'cancel', id });
    this.#stop(id);
    this.#fail(id, 'cancelledByMe');
  }

  /** The call ended: whatever is still moving failed. Received files stay to be saved. */
  disconnect(): void {
    this.#connected = false;
    for (const t of this.transfers.value) {
      if (t.state !== 'done' && t.state !== 'failed') {
        this.#stop(t.id);
        this.#fail(t.id, 'connection');
      }
    }
  }

  /** Forgets everything, revoking the received files' object URLs. */
  dispose(): void {
    this.disconnect();
    for (const t of this.transfers.value) if (t.url) URL.revokeObjectURL(t.url);
    this.transfers.value = [];
  }

  // -------------------------------------------------------------------------------------------

  #open(): RTCDataChannel | null {
    const channel = this.#connected ? this.#link.channel() : null;
    return channel?.readyState === 'open' ? channel : null;
  }

  #note(channel: RTCDataChannel, note: Note): void {
    channel.send(JSON.stringify(note));
  }

  #receive(data: FileData): void {
    if (typeof data !== 'string') {
      this.#chunk(data);
      return;
    }
    const note = parseNote(data);
    if (!note) return;
    switch (note.t) {
      case 'offer': {
        const channel = this.#open();
        if (this.#in || !channel) {
          // Only a misbehaving peer offers twice at once.
          if (channel) this.#note(channel, { t: 'decline', id: note.id });
          return;
        }
        this.#in = { id: note.id, size: note.size, received: 0, parts: [], pending: [], pendingBytes: 0 };
        this.#add({ id: note.id, direction: 'in', name: note.name, size: note.size, state: 'offered', bytes: 0, speed: null, failure: null, url: null });
        return;
      }
      case 'accept':
        if (this.#out?.id === note.id && this.#find(note.id)?.state === 'offered') {
          this.#update(note.id, { state: 'transferring' });
          this.#startTicking();
          void this.#pump(this.#out);
        }
        return;
      case 'decline':
        if (this.#out?.id === note.id) {
          this.#stop(note.id);
          this.#fail(note.id, 'declined');
        }
        return;
      case 'cancel':
        if (this.#out?.id === note.id || this.#in?.id === note.id) {
          this.#stop(note.id);
          this.#fail(note.id, 'cancelledByPeer');
        }
        return;
      case 'end':
        if (this.#in?.id === note.id) void this.#finish(this.#in, note.sha256);
        return;
      case 'verdict':
        if (this.#out?.id === note.id) {
          this.#stop(note.id);
          if (note.ok) this.#update(note.id, { state: 'done', bytes: this.#find(note.id)?.size ?? 0 });
          else this.#fail(note.id, 'checksum');
        }
        return;
    }
  }

  #chunk(data: ArrayBuffer): void {
    const inc = this.#in;
    // Chunks of a transfer we cancelled may still be on the way: drop them.
    if (!inc || this.#find(inc.id)?.state !== 'transferring') return;
    inc.received += data.byteLength;
    if (inc.received > inc.size) {
      this.#failChecksum(inc.id);
      return;
    }
    inc.pending.push(data);
    inc.pendingBytes += data.byteLength;
    if (inc.pendingBytes >= GATHER) gather(inc);
  }

  async #pump(out: Outgoing): Promise<void> {
    const { file, id } = out;
    let offset = 0;
    while (offset < file.size) {
      let block: ArrayBuffer;
      try {
        block = await file.slice(offset, offset + BLOCK).arrayBuffer();
      } catch {
        if (out.stopped) return;
        this.#abort(id, 'unreadable');
        return;
      }
      let at = 0;
      while (at < block.byteLength) {
        const channel = this.#open();
        if (out.stopped) return;
        if (!channel) {
          this.#stop(id);
          this.#fail(id, 'connection');
          return;
        }
        if (channel.bufferedAmount > HIGH_WATER) {
          await drained(channel, out);
          if (out.stopped) return;
          continue; // look at the channel again
        }
        const length = Math.min(CHUNK, block.byteLength - at);
        channel.send(new Uint8Array(block, at, length));
        out.queued += length;
        at += length;
      }
      offset += block.byteLength;
    }
    const digest = await out.hash;
    if (out.stopped) return;
    const channel = this.#open();
    if (!digest) {
      this.#abort(id, 'unreadable');
      return;
    }
    if (!channel) {
      this.#stop(id);
      this.#fail(id, 'connection');
      return;
    }
    this.#note(channel, { t: 'end', id, sha256: digest });
    // The receiver now hashes what arrived and answers with a verdict.
    this.#update(id, { state: 'checking' });
  }

  async #finish(inc: Incoming, expected: string): Promise<void> {
    const id = inc.id;
    if (this.#find(id)?.state !== 'transferring') return;
    if (inc.received !== inc.size) {
      this.#failChecksum(id);
      return;
    }
    gather(inc);
    this.#update(id, { state: 'checking', bytes: inc.received });
    // application/octet-stream whatever the sender says: an object URL has this page's origin, so a
    // received HTML file opened in a tab must not run as this app.
    const blob = new Blob(inc.parts, { type: 'application/octet-stream' });
    inc.parts = [];
    let actual: string | null;
    try {
      actual = await sha256(blob);
    } catch {
      actual = null;
    }
    if (this.#in !== inc) return; // cancelled, or the call ended, while hashing
    this.#in = null;
    const ok = actual === expected;
    const channel = this.#open();
    if (channel) this.#note(channel, { t: 'verdict', id, ok });
    if (ok) this.#update(id, { state: 'done', url: URL.createObjectURL(blob) });
    else this.#fail(id, 'checksum');
  }

  #failChecksum(id: string): void {
    const channel = this.#open();
    if (channel) this.#note(channel, { t: 'verdict', id, ok: false });
    this.#stop(id);
    this.#fail(id, 'checksum');
  }

  /** Our side cannot go on: tell the peer (as a cancel) and say why here. */
  #abort(id: string, why: TransferFailure): void {
    const channel = this.#open();
    if (channel) this.#note(channel, { t: 'cancel', id });
    this.#stop(id);
    this.#fail(id, why);
  }

  /** Drops the local state of a transfer (reading, buffers); the list entry stays. */
  #stop(id: string): void {
    if (this.#out?.id === id) {
      this.#out.stopped = true;
      this.#out.wake?.();
      this.#out = null;
    }
    if (this.#in?.id === id) this.#in = null;
  }

  #fail(id: string, failure: TransferFailure): void {
    this.#update(id, { state: 'failed', failure, speed: null });
  }

  #find(id: string): Transfer | undefined {
    return this.transfers.value.find((t) => t.id === id);
  }

  #add(t: Transfer): void {
    this.transfers.value = [...this.transfers.value, t];
  }

  #update(id: string, patch: Partial<Transfer>): void {
    this.transfers.value = this.transfers.value.map((t) => (t.id === id ? { ...t, ...patch } : t));
  }

  /** Progress, speed and time left are sampled a few times a second, not per chunk. */
  #startTicking(): void {
    if (this.#ticker) return;
    this.#ticker = setInterval(() => {
      this.#tick();
    }, TICK_MS);
  }

  #tick(): void {
    const now = performance.now();
    let moving = false;
    this.transfers.value = this.transfers.value.map((t) => {
      if (t.state !== 'transferring') {
        this.#samples.delete(t.id);
        return t;
      }
      moving = true;
      let bytes = t.bytes;
      if (t.direction === 'in' && this.#in?.id === t.id) bytes = this.#in.received;
      if (t.direction === 'out' && this.#out?.id === t.id) {
        bytes = Math.max(0, this.#out.queued - (this.#link.channel()?.bufferedAmount ?? 0));
      }
      const samples = [...(this.#samples.get(t.id) ?? []), { t: now, bytes }].filter((s) => now - s.t <= SPEED_WINDOW_MS);
      this.#samples.set(t.id, samples);
      const first = samples[0]!;
      const speed = now - first.t >= 500 ? ((bytes - first.bytes) * 1000) / (now - first.t) : t.speed;
      return { ...t, bytes, speed };
    });
    if (!moving && this.#ticker) {
      clearInterval(this.#ticker);
      this.#ticker = null;
    }
  }
}

/** Waits for the channel's buffer to fall below the low-water mark (or the transfer to stop). */
function drained(channel: RTCDataChannel, out: Outgoing): Promise<void> {
  channel.bufferedAmountLowThreshold = LOW_WATER;
  return new Promise((resolve) => {
    const done = (): void => {
      channel.removeEventListener('bufferedamountlow', done);
      channel.removeEventListener('close', done);
      out.wake = null;
      resolve();
    };
    out.wake = done;
    channel.addEventListener('bufferedamountlow', done);
    channel.addEventListener('close', done);
  });
}

function gather(inc: Incoming): void {
  if (inc.pending.length === 0) return;
  inc.parts.push(new Blob(inc.pending));
  inc.pending = [];
  inc.pendingBytes = 0;
}

async function sha256(blob: Blob): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const MAX_NAME = 255;

/** Peer input is `unknown` until checked, like any frame. */
function parseNote(raw: string): Note | null {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const n = v as Record<string, unknown>;
  const id = n.id;
  if (typeof id !== 'string' || id.length === 0 || id.length > 64) return null;
  switch (n.t) {
    case 'offer': {
      const { name, size } = n;
      if (typeof name !== 'string' || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return null;
      // Path separators and control characters out: a bare file name for the download attribute.
      const clean = name.replace(/[/\\\p{Cc}]/gu, '_').slice(0, MAX_NAME) || 'file';
      return { t: 'offer', id, name: clean, size };
    }
    case 'accept':
    case 'decline':
    case 'cancel':
      return { t: n.t, id };
    case 'end':
      return typeof n.sha256 === 'string' && /^[0-9a-f]{64}$/.test(n.sha256) ? { t: 'end', id, sha256: n.sha256 } : null;
    case 'verdict':
      return typeof n.ok === 'boolean' ? { t: 'verdict', id, ok: n.ok } : null;
    default:
      return null;
  }
}
