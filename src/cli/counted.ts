/** Counts in what the CLI prints: "1 certificate", "0 certificates", "2 certificates". */
export function counted(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
