import type { CallMedia, IceServer, SignalData } from '../../protocol/protocol.js';

/** Small messages the two Parley apps exchange directly, so a call outlives the server. */
export type PeerNote =
  | { t: 'bye' }
  | { t: 'media'; audio: boolean; video: boolean }
  /** The sender's video is (or is no longer) a shared screen. */
  | { t: 'screen'; on: boolean };

/** What arrives on the file-transfer channel: JSON text for control, binary for file chunks. */
export type FileData = string | ArrayBuffer;

export interface PeerSessionOptions {
  /** The polite peer yields when both sides offer at once. */
  polite: boolean;
  iceServers: IceServer[];
  /** Delivers a signal to the other side (through the server). */
  send: (data: SignalData) => void;
  /** Open a data channel for PeerNotes (both sides must be Parley apps). */
  dataChannel: boolean;
  /**
   * Let the other side offer first (the callee): an offer is applied as soon as it arrives, even
   * while the call still rings, but nothing is answered until the user accepts (beginAnswer, or
   * addStreamWithAnswer), and nothing is sent until the accept has gone to the server (acceptSent,
   * or addStreamWithAnswer); local tracks and the data channel go with that answer (or after a
   * fallback delay if no offer comes). Both sides offering at once is legal, perfect negotiation
   * settles it, but the callee waiting avoids a needless rollback in the common case.
   */
  answerFirst: boolean;
  onTrack: (stream: MediaStream) => void;
  onConnectionState: (state: RTCPeerConnectionState) => void;
  onNote: (note: PeerNote) => void;
  /** The direct channel closed: the other side is gone even if the server has not said so. */
  onChannelClosed: () => void;
  onError: (error: unknown) => void;
}

/**
 * One RTCPeerConnection with the W3C "perfect negotiation" pattern: both sides run the same code,
 * either may (re)negotiate at any time, and an offer collision is settled by politeness (the
 * impolite side ignores the colliding offer, the polite side rolls back implicitly in
 * setRemoteDescription). No UI here.
 */
export class PeerSession {
  readonly pc: RTCPeerConnection;
  readonly #opts: PeerSessionOptions;
  #makingOffer = false;
  #ignoreOffer = false;
  #isSettingRemoteAnswerPending = false;
  #channel: RTCDataChannel | null = null;
  #files: RTCDataChannel | null = null;
  /** File-channel messages that arrived before anyone listened (the transfer code loads lazily). */
  #filesInbox: FileData[] = [];
  #filesListener: ((data: FileData) => void) | null = null;
  /** Signals are handled one at a time so a candidate never overtakes its description. */
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  #remote = new MediaStream();
  /**
   * answerFirst: settled when the user accepts (beginAnswer or addStreamWithAnswer) with what the
   * answer will send, or by close with null; null once the first offer was answered (or the
   * fallback offered). Until then an offer waits, applied but unanswered.
   */
  #accepted: Promise<CallMedia | null> | null = null;
  #settleAccepted: ((media: CallMedia | null) => void) | null = null;
  /** answerFirst: the local stream once addStreamWithAnswer gave it (undefined before). */
  #answerStream: MediaStream | null | undefined = undefined;
  /**
   * answerFirst: the answer's senders, made ready while the devices were still opening; each takes
   * its track by replaceTrack when the stream comes, with no renegotiation.
   */
  #readySenders = new Map<string, RTCRtpSender>();
  /** answerFirst: the answer was made before the stream came; its tracks go on #readySenders. */
  #answeredAhead = false;
  /** answerFirst: signals made before the accept went out (the answer, candidates), sent by acceptSent. */
  #held: SignalData[] | null = null;
  #fallbackTimer: ReturnType<typeof setTimeout> | null = null;
  /** Candidates that came before any remote description (a previous connection's, or early). */
  #early: (RTCIceCandidateInit | null)[] = [];

  constructor(options: PeerSessionOptions) {
    this.#opts = options;
    this.pc = new RTCPeerConnection({
      iceServers: options.iceServers.map((s) => ({
        urls: s.urls,
        ...(s.username !== undefined ? { username: s.username } : {}),
        ...(s.credential !== undefined ? { credential: s.credential } : {}),
      })),
    });
    const pc = this.pc;
    pc.onnegotiationneeded = () => {
      void this.#offer();
    };
    pc.onicecandidate = ({ candidate }) => {
      const c = candidate?.toJSON();
      this.#send({
        kind: 'candidate',
        candidate: c
          ? {
              candidate: c.candidate ?? '',
              sdpMid: c.sdpMid ?? null,
              sdpMLineIndex: c.sdpMLineIndex ?? null,
              usernameFragment: c.usernameFragment ?? null,
            }
          : null,
      });
    };
    pc.ontrack = ({ track }) => {
      // A new stream object each time, so a media element given the previous one reloads.
      if (this.#remote.getTrackById(track.id)) return;
      this.#remote = new MediaStream([...this.#remote.getTracks(), track]);
      track.onended = () => {
        this.#remote = new MediaStream(this.#remote.getTracks().filter((t) => t !== track));
        this.#opts.onTrack(this.#remote);
      };
      this.#opts.onTrack(this.#remote);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed') pc.restartIce();
      this.#opts.onConnectionState(pc.connectionState);
    };
    if (options.answerFirst) {
      this.#accepted = new Promise((settle) => {
        this.#settleAccepted = settle;
      });
      this.#held = [];
    } else {
      this.#openChannel();
    }
  }

  #openChannel(): void {
    if (!this.#opts.dataChannel || this.#channel || this.#closed) return;
    // Negotiated with a fixed id: both sides create it, nobody waits for an announcement.
    const channel = this.pc.createDataChannel('parley', { negotiated: true, id: 0 });
    channel.onmessage = (event: MessageEvent) => {
      this.#readNote(event.data);
    };
    channel.onclose = () => {
      if (!this.#closed) this.#opts.onChannelClosed();
    };
    this.#channel = channel;
    // A second negotiated channel (id 1) for file transfers, so a large file never delays a
    // hang-up or mute note queued behind its chunks on the same ordered channel.
    const files = this.pc.createDataChannel('files', { negotiated: true, id: 1 });
    files.binaryType = 'arraybuffer';
    files.onmessage = (event: MessageEvent) => {
      const data: unknown = event.data;
      if (typeof data !== 'string' && !(data instanceof ArrayBuffer)) return;
      if (this.#filesListener) this.#filesListener(data);
      else this.#filesInbox.push(data);
    };
    this.#files = files;
  }

  /** The file-transfer channel, or null before it exists, after the call or without Parley. */
  get filesChannel(): RTCDataChannel | null {
    return this.#closed ? null : this.#files;
  }

  /** Receives every file-channel message in order, including any that arrived before. */
  listenFiles(listener: (data: FileData) => void): void {
    this.#filesListener = listener;
    for (const data of this.#filesInbox.splice(0)) listener(data);
  }

  get remoteStream(): MediaStream {
    return this.#remote;
  }

  /** Sends local tracks; negotiation follows by itself. */
  addStream(stream: MediaStream): void {
    for (const track of stream.getTracks()) this.pc.addTrack(track, stream);
  }

  /**
   * With answerFirst, at the user's accept, while the devices open: the answer to the offer (which
   * may already be here) is made at once, with senders for `media` ready to take the tracks, and
   * its candidates gathered; all of it is held until acceptSent, as the server takes no signal
   * from the callee before its accept.
   */
  beginAnswer(media: CallMedia): void {
    this.#settleAccepted?.(media);
    this.#settleAccepted = null;
  }

  /**
   * With answerFirst, once the accept has gone to the server: what was held (the answer,
   * candidates) goes out now, and whatever follows goes out as it comes.
   */
  acceptSent(): void {
    const held = this.#held;
    this.#held = null;
    for (const data of held ?? []) this.#opts.send(data);
  }

  /**
   * With answerFirst, once the accept has gone out: sends `stream`'s tracks (and opens the data
   * channel) with the answer to the offer, which may already be made (beginAnswer), have arrived,
   * or come after this; after `fallbackMs` without an offer this side offers itself. Once per
   * call. Sends what was held, if acceptSent has not.
   */
  addStreamWithAnswer(stream: MediaStream | null, fallbackMs: number): void {
    if (!this.#opts.answerFirst || this.#answerStream !== undefined || this.#closed) return;
    this.beginAnswer(stream?.getVideoTracks().length ? 'video' : 'audio');
    this.#answerStream = stream;
    if (this.#answeredAhead && stream) {
      for (const track of stream.getTracks()) {
        const sender = this.#readySenders.get(track.kind);
        if (sender) {
          sender.replaceTrack(track).catch((error: unknown) => {
            if (!this.#closed) this.#opts.onError(error);
          });
        } else {
          // The offer had no place for it (e.g. no video): negotiation follows by itself.
          this.pc.addTrack(track, stream);
        }
      }
    }
    this.acceptSent();
    if (this.#accepted) {
      this.#fallbackTimer = setTimeout(() => {
        void this.#takeAnswerStream();
      }, fallbackMs);
    }
  }

  #send(data: SignalData): void {
    if (this.#closed) return;
    if (this.#held) this.#held.push(data);
    else this.#opts.send(data);
  }

  /**
   * With answerFirst, for the first offer or the fallback: waits for the accept, then opens the
   * data channel and adds the tracks, or, while the devices still open, readies a sender of each
   * kind the answer will send (once).
   */
  async #takeAnswerStream(): Promise<void> {
    const pending = this.#accepted;
    this.#accepted = null;
    const media = pending ? await pending : null;
    if (this.#fallbackTimer) clearTimeout(this.#fallbackTimer);
    this.#fallbackTimer = null;
    if (this.#closed || media === null) return;
    this.#openChannel();
    const stream = this.#answerStream;
    if (stream !== undefined) {
      if (stream) this.addStream(stream);
      return;
    }
    // A placeholder stream id in the answer, so that the other side's track comes in a stream
    // (tutorial pages show `streams[0]`) without the setStreams renegotiation a later id would need.
    const streamId = new MediaStream();
    this.#answeredAhead = true;
    for (const t of this.pc.getTransceivers()) {
      const kind = t.receiver.track.kind;
      if (t.mid === null || t.direction === 'stopped' || t.sender.track || this.#readySenders.has(kind)) continue;
      if (kind !== 'audio' && !(kind === 'video' && media === 'video')) continue;
      t.direction = 'sendrecv';
      t.sender.setStreams(streamId);
      this.#readySenders.set(kind, t.sender);
    }
  }

  /**
   * Sends `fresh` in place of `old` (another camera or microphone) on the same sender: no
   * renegotiation, the peer's track just carries different frames. Before the first answer the
   * swap happens in the tracks still waiting to be added.
   */
  async replaceTrack(old: MediaStreamTrack, fresh: MediaStreamTrack): Promise<void> {
    const sender = this.pc.getSenders().find((s) => s.track === old);
    if (sender) {
      await sender.replaceTrack(fresh);
      return;
    }
    const stream = this.#answerStream;
    if (stream?.getTracks().includes(old)) {
      this.#answerStream = new MediaStream(stream.getTracks().map((t) => (t === old ? fresh : t)));
    }
  }

  /**
   * Makes `track` the video we send (null: none). An existing video sender, live or left idle by an
   * earlier call of this method, gets it by replaceTrack, which needs no renegotiation; only a
   * call without any video sender (voice) adds one, and perfect negotiation then renegotiates.
   */
  async sendVideo(track: MediaStreamTrack | null, stream: MediaStream | null): Promise<void> {
    const sender =
      this.pc.getSenders().find((s) => s.track?.kind === 'video') ??
      this.pc
        .getTransceivers()
        .find(
          (t) =>
            t.sender.track === null &&
            t.receiver.track.kind === 'video' &&
            (t.currentDirection === 'sendrecv' || t.currentDirection === 'sendonly'),
        )?.sender;
    if (sender) {
      await sender.replaceTrack(track);
      return;
    }
    if (track) this.pc.addTrack(track, ...(stream ? [stream] : []));
  }

  /** Offers and answers sent so far (diagnostics: a device switch must not add any). */
  get descriptionsSent(): number {
    return this.#descriptionsSent;
  }

  #descriptionsSent = 0;

  /** Stops sending a track (e.g. video when the call turned out to be voice only). */
  removeTrack(track: MediaStreamTrack): void {
    const sender = this.pc.getSenders().find((s) => s.track === track);
    if (sender) this.pc.removeTrack(sender);
  }

  note(note: PeerNote): boolean {
    if (this.#channel?.readyState !== 'open') return false;
    this.#channel.send(JSON.stringify(note));
    return true;
  }

  /** Handles a signal from the other side, in arrival order. */
  receive(data: SignalData): void {
    this.#queue = this.#queue.then(
      () => this.#handle(data),
      () => this.#handle(data),
    );
    this.#queue.catch((error: unknown) => {
      this.#opts.onError(error);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#fallbackTimer) clearTimeout(this.#fallbackTimer);
    // An offer waiting for an accept that will not come: let its handler finish.
    this.#settleAccepted?.(null);
    this.#settleAccepted = null;
    this.#held = null;
    this.#channel?.close();
    this.#files?.close();
    this.#filesListener = null;
    this.#filesInbox = [];
    this.pc.close();
  }

  async #offer(): Promise<void> {
    try {
      this.#makingOffer = true;
      await this.pc.setLocalDescription();
      const local = this.pc.localDescription;
      if (local) this.#sendDescription(local);
    } catch (error) {
      if (!this.#closed) this.#opts.onError(error);
    } finally {
      this.#makingOffer = false;
    }
  }

  #sendDescription(d: RTCSessionDescription): void {
    if (d.type !== 'offer' && d.type !== 'answer') return;
    this.#descriptionsSent++;
    this.#send({ kind: 'description', description: { type: d.type, sdp: d.sdp } });
  }

  async #handle(data: SignalData): Promise<void> {
    if (this.#closed) return;
    const pc = this.pc;
    if (data.kind === 'description') {
      const description = data.description;
      const readyForOffer =
        !this.#makingOffer && (pc.signalingState === 'stable' || this.#isSettingRemoteAnswerPending);
      const offerCollision = description.type === 'offer' && !readyForOffer;
      this.#ignoreOffer = !this.#opts.polite && offerCollision;
      if (this.#ignoreOffer) return;
      this.#isSettingRemoteAnswerPending = description.type === 'answer';
      try {
        await pc.setRemoteDescription(description);
      } finally {
        this.#isSettingRemoteAnswerPending = false;
      }
      for (const candidate of this.#early.splice(0)) await this.#addCandidate(candidate);
      if (description.type === 'offer') {
        if (this.#accepted) await this.#takeAnswerStream();
        else this.#openChannel();
        if (this.#closed) return;
        await pc.setLocalDescription();
        const local = pc.localDescription;
        if (local) this.#sendDescription(local);
      }
      return;
    }
    if (!pc.remoteDescription) {
      this.#early.push(data.candidate);
      return;
    }
    await this.#addCandidate(data.candidate);
  }

  async #addCandidate(candidate: RTCIceCandidateInit | null): Promise<void> {
    const pc = this.pc;
    // A candidate of the peer's previous connection (it started over, e.g. for a voice-only
    // answer): its ICE username fragment is not in the description we have.
    const ufrag = candidate?.usernameFragment;
    if (ufrag && !(pc.remoteDescription?.sdp.split(/\r?\n/).includes(`a=ice-ufrag:${ufrag}`) ?? false)) return;
    try {
      if (candidate === null) await pc.addIceCandidate();
      else await pc.addIceCandidate(candidate);
    } catch (error) {
      // Candidates of an offer we ignored are expected to fail.
      if (!this.#ignoreOffer) throw error;
    }
  }

  #readNote(raw: unknown): void {
    if (typeof raw !== 'string') return;
    try {
      const note = JSON.parse(raw) as { t?: unknown; audio?: unknown; video?: unknown; on?: unknown };
      if (note.t === 'bye') this.#opts.onNote({ t: 'bye' });
      else if (note.t === 'screen' && typeof note.on === 'boolean') this.#opts.onNote({ t: 'screen', on: note.on });
      else if (note.t === 'media' && typeof note.audio === 'boolean' && typeof note.video === 'boolean') {
        this.#opts.onNote({ t: 'media', audio: note.audio, video: note.video });
      }
    } catch {
      // Not ours; ignore.
    }
  }
}
