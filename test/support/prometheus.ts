/** Reading a /metrics scrape with parse-prometheus-text-format (CommonJS, untyped) into typed samples. */
import { createRequire } from 'node:module';

interface ParsedFamily {
  readonly name: string;
  readonly type: string;
  readonly metrics: ReadonlyArray<{ readonly value?: string; readonly labels?: Record<string, string> }>;
}

const parsePrometheusTextFormat = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => ParsedFamily[];

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface HistogramSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly count: number;
  readonly sum: number;
  readonly buckets: Readonly<Record<string, number>>;
}

export class Scrape {
  private readonly families: ReadonlyMap<string, ParsedFamily>;

  constructor(private readonly text: string) {
    this.families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  }

  type(name: string): string | undefined {
    return this.families.get(name)?.type;
  }

  /** Samples of a counter or gauge; [] when the family is absent. */
  samples(name: string): Sample[] {
    return (this.families.get(name)?.metrics ?? []).map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) }));
  }

  /** The sample whose labels include all of `labels`; undefined if none. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    return this.samples(name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  }

  /** Samples keyed by their labels in the given order, e.g. "issued/ec-p256/mint" -> 3. */
  byLabels(name: string, labelNames: readonly string[]): Record<string, number> {
    return Object.fromEntries(this.samples(name).map((s) => [labelNames.map((l) => s.labels[l]).join('/'), s.value]));
  }

  /**
   * Histogram series by their labels. parse-prometheus-text-format folds every
   * series of a labelled histogram into one and drops the labels, so these are
   * read from the sample lines directly.
   */
  histograms(name: string): HistogramSample[] {
    const series = new Map<string, { labels: Record<string, string>; count: number; sum: number; buckets: Record<string, number> }>();
    for (const line of this.text.split('\n')) {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match || !match[1]!.startsWith(`${name}_`)) continue;
      const suffix = match[1]!.slice(name.length + 1);
      if (suffix !== 'bucket' && suffix !== 'sum' && suffix !== 'count') continue;
      const { le, ...labels } = parseLabels(match[2] ?? '');
      const key = JSON.stringify(Object.entries(labels).sort());
      const entry = series.get(key) ?? { labels, count: NaN, sum: NaN, buckets: {} };
      series.set(key, entry);
      const value = Number(match[3]);
      if (suffix === 'bucket') entry.buckets[le!] = value;
      else entry[suffix] = value;
    }
    return [...series.values()];
  }
}

/** `a="x",b="y \"quoted\""` -> { a: 'x', b: 'y "quoted"' } */
function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const m of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}
