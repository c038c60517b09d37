import { signal } from '@preact/signals';

export type DeviceKind = 'camera' | 'microphone' | 'speaker';
export interface DeviceOption {
  id: string;
  /** Empty until the user has allowed camera or microphone access once. */
  label: string;
}

const MEDIA_KIND: Record<DeviceKind, MediaDeviceKind> = {
  camera: 'videoinput',
  microphone: 'audioinput',
  speaker: 'audiooutput',
};
const KINDS: readonly DeviceKind[] = ['camera', 'microphone', 'speaker'];
const STORE_KEY = 'parley.devices';

/** A remembered choice: the id, and the label to find the device again if its id changed. */
interface Saved {
  id: string;
  label: string;
}

type Lists = Record<DeviceKind, DeviceOption[]>;

/**
 * Which camera, microphone and speaker to use: the devices there are (enumerateDevices), the
 * user's choice, remembered in localStorage by deviceId (and label, since ids can be reset with
 * site data). A remembered device that is gone is not an error: the call asks for it exactly,
 * and when that fails asks for any device; `fallback` says so.
 */
export class DeviceChoice {
  readonly devices = signal<Lists>({ camera: [], microphone: [], speaker: [] });
  /** The chosen device id per kind; '' means the system default. */
  readonly chosen = signal<Record<DeviceKind, string>>({ camera: '', microphone: '', speaker: '' });
  /** A remembered device was not there and another one is in use. */
  readonly fallback = signal(false);
  /** Speaker choice needs HTMLMediaElement.setSinkId (not in Firefox before 116, nor Safari). */
  readonly speakerSupported: boolean;
  readonly #storage: Pick<Storage, 'getItem' | 'setItem'> | null;
  readonly #media: MediaDevices | null;
  #saved: Partial<Record<DeviceKind, Saved>> = {};

  constructor(options: { storage?: Pick<Storage, 'getItem' | 'setItem'> | null; media?: MediaDevices | null } = {}) {
    this.#storage = options.storage ?? null;
    this.#media = options.media ?? null;
    this.speakerSupported = typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;
    this.#saved = this.#load();
    this.chosen.value = {
      camera: this.#saved.camera?.id ?? '',
      microphone: this.#saved.microphone?.id ?? '',
      speaker: this.#saved.speaker?.id ?? '',
    };
    this.#media?.addEventListener('devicechange', () => void this.refresh());
  }

  /**
   * getUserMedia's deviceId for a kind: exactly the chosen device if there is one, else any.
   * (`ideal` is not enough: Chrome weighs it against size and frame rate and may pick another.)
   */
  constraint(kind: 'camera' | 'microphone'): { deviceId?: { exact: string } } {
    const id = this.chosen.value[kind];
    return id ? { deviceId: { exact: id } } : {};
  }

  /** Reads the device list again (after permission is granted labels appear; devices come and go). */
  async refresh(): Promise<void> {
    if (!this.#media) return;
    let all: MediaDeviceInfo[];
    try {
      all = await this.#media.enumerateDevices();
    } catch {
      return;
    }
    const lists: Lists = { camera: [], microphone: [], speaker: [] };
    for (const kind of KINDS) {
      lists[kind] = all
        .filter((d) => d.kind === MEDIA_KIND[kind] && d.deviceId !== '')
        .map((d) => ({ id: d.deviceId, label: d.label }));
    }
    this.devices.value = lists;
    // A remembered device whose id changed but whose name is still there is the same device.
    const chosen = { ...this.chosen.value };
    for (const kind of KINDS) {
      const saved = this.#saved[kind];
      if (!saved || lists[kind].some((d) => d.id === saved.id)) continue;
      const same = saved.label ? lists[kind].find((d) => d.label === saved.label) : undefined;
      if (same) {
        chosen[kind] = same.id;
        this.#save(kind, same);
      }
    }
    this.chosen.value = chosen;
  }

  /** Remembers a choice. */
  choose(kind: DeviceKind, id: string): void {
    const label = this.devices.value[kind].find((d) => d.id === id)?.label ?? '';
    this.chosen.value = { ...this.chosen.value, [kind]: id };
    this.#save(kind, { id, label });
    this.fallback.value = false;
  }

  /** After getUserMedia: notes whether we got the remembered devices, and refreshes labels. */
  async confirm(stream: MediaStream | null): Promise<void> {
    await this.refresh();
    if (!stream) return;
    let missed = false;
    for (const [kind, track] of [
      ['camera', stream.getVideoTracks()[0]],
      ['microphone', stream.getAudioTracks()[0]],
    ] as const) {
      const want = this.chosen.value[kind];
      const got = track?.getSettings().deviceId;
      if (want && track && got && got !== want) missed = true;
    }
    this.fallback.value = missed;
  }

  /** The remembered speaker could not be used (unplugged): play through the default. */
  speakerFailed(): void {
    if (this.chosen.value.speaker === '') return;
    this.chosen.value = { ...this.chosen.value, speaker: '' };
    this.fallback.value = true;
  }

  #load(): Partial<Record<DeviceKind, Saved>> {
    try {
      const raw: unknown = JSON.parse(this.#storage?.getItem(STORE_KEY) ?? '{}');
      const out: Partial<Record<DeviceKind, Saved>> = {};
      if (typeof raw !== 'object' || raw === null) return out;
      for (const kind of KINDS) {
        const v = (raw as Record<string, unknown>)[kind] as Partial<Saved> | undefined;
        if (typeof v?.id === 'string' && typeof v.label === 'string') out[kind] = { id: v.id, label: v.label };
      }
      return out;
    } catch {
      return {};
    }
  }

  #save(kind: DeviceKind, saved: Saved): void {
    this.#saved = { ...this.#saved, [kind]: saved };
    this.#storage?.setItem(STORE_KEY, JSON.stringify(this.#saved));
  }
}
