/**
 * The CA's successful answers, read into the wire types before anything uses
 * them. A CA with a bug, or a proxy in front of it answering 200 with a page
 * of its own, must be refused with a message that says what was wrong with
 * the answer, not fail later with a TypeError ("cannot read properties of
 * undefined") that reads like the agent's own bug. Only the shape is checked
 * here; what the certificates, bundle and CRLs say is ca-answers.ts's work.
 */
import { refuseAnswer } from './ca-answers.js';
import type { EntryWire, SvidWire, SyncWire, WorkloadSvidWire } from './ca-api.js';

type Fields = Record<string, unknown>;

function object(value: unknown, what: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) refuseAnswer(`${what} is not a JSON object`);
  return value as Fields;
}

function array(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) refuseAnswer(`${what} is not a list`);
  return value;
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') refuseAnswer(`${what} is not text`);
  return value;
}

/** The one SVID of an attestation, a renewal or a workload request: its PEM chain is what the agent takes from it. */
function svidWire(value: unknown, what: string): SvidWire {
  const svid = object(value, what);
  text(svid['svid'], `${what}'s certificate chain`);
  return svid as unknown as SvidWire;
}

function entryWire(value: unknown, index: number): EntryWire {
  const what = `its entry number ${index + 1}`;
  const entry = object(value, what);
  for (const field of ['id', 'spiffeId'] as const) text(entry[field], `${what}'s ${field}`);
  if (!Number.isSafeInteger(entry['revision'])) refuseAnswer(`${what}'s revision is not a whole number`);
  array(entry['dns'], `${what}'s DNS names`).forEach((name, i) => text(name, `${what}'s DNS name number ${i + 1}`));
  return entry as unknown as EntryWire;
}

/** The answer to an attestation or a renewal. */
export function svidAnswer(body: unknown, call: string): { svid: SvidWire; bundle: string } {
  const answer = object(body, `its answer to ${call}`);
  return { svid: svidWire(answer['svid'], 'its SVID'), bundle: answer['bundle'] as string };
}

/** The answer to a sync: the bundle and CRLs are checked for what they hold by whoever takes them. */
export function syncAnswer(body: unknown): SyncWire {
  const answer = object(body, 'its answer to a sync');
  array(answer['entries'], "its answer to a sync's entries").forEach(entryWire);
  return answer as unknown as SyncWire;
}

/** The answer to a workload SVID request: one SVID for each request, no more, no fewer. */
export function workloadSvidsAnswer(body: unknown, asked: number): { svids: WorkloadSvidWire[]; bundle: string } {
  const answer = object(body, 'its answer to a request for SVIDs');
  const svids = array(answer['svids'], 'its SVIDs');
  if (svids.length !== asked) refuseAnswer(`it answered ${svids.length} SVIDs to a request for ${asked}`);
  svids.forEach((svid, i) => svidWire(svid, `its SVID number ${i + 1}`));
  return { svids: svids as WorkloadSvidWire[], bundle: answer['bundle'] as string };
}
