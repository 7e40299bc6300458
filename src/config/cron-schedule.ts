/**
 * The server's schedules. Apart from the other parsers: node-cron costs a
 * process some 5 MB, which the agent, sharing those parsers, has no use for.
 */
import cron from 'node-cron';

export function parseCron(raw: string): string {
  if (!cron.validate(raw)) throw new Error(`"${raw}" is not a cron expression`);
  return raw;
}
