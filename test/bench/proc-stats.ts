/** CPU seconds and resident memory of a process, read from /proc (Linux). */
import { readdirSync, readFileSync } from 'node:fs';
import { sysconf } from './sysconf.js';

/**
 * CPU seconds a process has used: the sum of its threads' time on a CPU from
 * schedstat (nanoseconds, as the scheduler counts it) where the kernel keeps
 * it, else utime + stime from /proc/PID/stat. The latter is sampled at the
 * clock tick (10 ms), so a renewal of 15 ms of CPU could show as 0 or 20 ms,
 * and with an idle share subtracted, as less than nothing. Threads that
 * exited are not in the sum; Node's (libuv's pool, V8's helpers) live as long
 * as the process.
 */
export function cpuSeconds(pid: number): number {
  return SCHEDSTAT ? scheduledSeconds(pid) : tickedSeconds(pid);
}

const SCHEDSTAT = (() => {
  try {
    return Number.isFinite(scheduledSeconds(process.pid));
  } catch {
    return false;
  }
})();

function scheduledSeconds(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch (err) {
      // A thread that ended between the listing and the read.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  return ns / 1e9;
}

function tickedSeconds(pid: number): number {
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
