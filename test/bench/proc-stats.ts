/** CPU seconds and resident memory of a process, read from /proc (Linux). */
import { readFileSync } from 'node:fs';
import { sysconf } from './sysconf.js';

export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / sysconf.clockTicks;
}

export function residentMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}

/** Average cores used and peak RSS over `seconds`, sampling every 200 ms. */
export async function watch(pid: number, seconds: number): Promise<{ cores: number; peakRssMb: number }> {
  const cpu0 = cpuSeconds(pid);
  const started = performance.now();
  let peak = residentMb(pid);
  while (performance.now() - started < seconds * 1000) {
    await new Promise((r) => setTimeout(r, 200));
    peak = Math.max(peak, residentMb(pid));
  }
  return { cores: (cpuSeconds(pid) - cpu0) / ((performance.now() - started) / 1000), peakRssMb: peak };
}
