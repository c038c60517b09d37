import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseClientMessage } from '../../src/protocol/validate.js';
import { verbatimRange } from '../../src/server/transport/verbatim.js';

/** The text of the member verbatimRange finds, as ParleyConnection takes it. */
function verbatimMember(text: string, key: string, parsed: unknown, validated: unknown): string | null {
  const range = verbatimRange(text, key, parsed, validated);
  return range && text.slice(range[0], range[1]);
}

/** The text of a signal frame's `data`, as ParleyConnection finds it. */
function dataOf(text: string): string | null {
  const parsed = JSON.parse(text) as { data?: unknown };
  const validated = parseClientMessage(text);
  if (!validated.ok || validated.value.type !== 'signal') throw new Error(`not a valid signal: ${text}`);
  return verbatimMember(text, 'data', parsed.data, validated.value.data);
}

function validatedData(text: string): unknown {
  const validated = parseClientMessage(text);
  if (!validated.ok || validated.value.type !== 'signal') throw new Error('not a valid signal');
  return validated.value.data;
}

const offer = { kind: 'description', description: { type: 'offer', sdp: 'v=0\r\na=x:"quoted" \\ {brace}\r\n' } };

describe('verbatimRange', () => {
  it.each([
    ['a canonical frame', JSON.stringify({ type: 'signal', callId: 'c1', data: offer })],
    ['data first', JSON.stringify({ data: offer, type: 'signal', callId: 'c1', ref: 'r' })],
    ['a null candidate', JSON.stringify({ type: 'signal', callId: 'c1', data: { kind: 'candidate', candidate: null } })],
    [
      'a candidate with every field',
      JSON.stringify({
        type: 'signal',
        callId: 'c1',
        data: {
          kind: 'candidate',
          candidate: { candidate: 'candidate:1 1 udp 1 1.2.3.4 5 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: null },
        },
      }),
    ],
    ['other strings that look like keys', JSON.stringify({ type: 'signal', ref: '"data":{}', callId: 'c\\"data"', data: offer })],
  ])('takes the text of data as written: %s', (_name, text) => {
    expect(dataOf(text)).toBe(JSON.stringify(validatedData(text)));
  });

  it('passes whitespace and a different key order through, which parse to the same value', () => {
    const text = `{ "type" : "signal", "callId":"c1",\n  "data" : { "description": {"sdp":"v=0\\r\\n","type":"answer"}, "kind":"description" } }`;
    const raw = dataOf(text);
    expect(raw).toBe(`{ "description": {"sdp":"v=0\\r\\n","type":"answer"}, "kind":"description" }`);
    expect(JSON.parse(raw!)).toEqual(validatedData(text));
  });

  it.each([
    ['an unknown key in data (validation strips it)', `{"type":"signal","callId":"c","data":{"kind":"candidate","candidate":null,"x":1}}`],
    [
      'an unknown key deeper',
      `{"type":"signal","callId":"c","data":{"kind":"description","description":{"type":"offer","sdp":"","evil":{"a":[1]}}}}`,
    ],
    ['a duplicate key inside data', `{"type":"signal","callId":"c","data":{"kind":"candidate","kind":"candidate","candidate":null}}`],
    [
      'a duplicate data member',
      `{"type":"signal","callId":"c","data":{"kind":"candidate","candidate":{"candidate":"x"}},"data":{"kind":"candidate","candidate":null}}`,
    ],
    ['the key written with an escape', `{"type":"signal","callId":"c","d\\u0061ta":{"kind":"candidate","candidate":null}}`],
  ])('refuses %s, so the caller serializes the validated value', (_name, text) => {
    expect(dataOf(text)).toBeNull();
  });

  it('never returns text that means anything but the validated data (property)', () => {
    const str = fc.string({ unit: 'binary', maxLength: 40 });
    const candidate = fc.option(
      fc.record(
        {
          candidate: str,
          sdpMid: fc.option(fc.string({ maxLength: 10 })),
          sdpMLineIndex: fc.option(fc.nat(10)),
          usernameFragment: fc.option(fc.string({ maxLength: 10 })),
        },
        { requiredKeys: ['candidate'] },
      ),
    );
    const data = fc.oneof(
      fc.record({
        kind: fc.constant('description'),
        description: fc.record({ type: fc.constantFrom('offer', 'answer'), sdp: str }),
      }),
      fc.record({ kind: fc.constant('candidate'), candidate }),
    );
    fc.assert(
      fc.property(
        data,
        fc.boolean(),
        fc.option(fc.tuple(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }))),
        fc.boolean(),
        fc.option(str),
        (d, indent, extra, extraDeep, ref) => {
          const sent: Record<string, unknown> = structuredClone(d);
          if (extra !== null) {
            const [k, v] = extra;
            const target = extraDeep && d.kind === 'description' ? (sent.description as Record<string, unknown>) : sent;
            target[k] = v;
          }
          const frame = { type: 'signal', callId: 'c1', data: sent, ...(ref !== null ? { ref: ref.slice(0, 60) } : {}) };
          const text = JSON.stringify(frame, null, indent ? 2 : undefined);
          const validated = parseClientMessage(text);
          if (!validated.ok || validated.value.type !== 'signal') return;
          const raw = verbatimMember(text, 'data', (JSON.parse(text) as { data: unknown }).data, validated.value.data);
          if (raw === null) return;
          expect(JSON.parse(raw)).toEqual(validated.value.data);
          if (!indent) expect(raw).toBe(JSON.stringify(validated.value.data));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
