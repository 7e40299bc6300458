/** Clock ticks per second for /proc CPU times: 100 on every Linux this runs on (getconf CLK_TCK). */
import { execFileSync } from 'node:child_process';

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

export const sysconf = { clockTicks: clockTicks() };
