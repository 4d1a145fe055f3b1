/**
 * Reads the Prometheus text exposition format (what every triquant service serves at
 * /metrics) into samples. Hand-written because prom-client only writes the format and the
 * parsers on npm are unmaintained; the monitor needs only name, labels and value (no
 * timestamps, exemplars or OpenMetrics extensions).
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const UNESCAPE: Readonly<Record<string, string>> = { n: '\n', '\\': '\\', '"': '"' };

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    while (text[i] === ',' || text[i] === ' ') i++;
    if (i >= text.length) break;
    const eq = text.indexOf('=', i);
    if (eq < 0 || text[eq + 1] !== '"') throw new Error(`malformed labels in: ${line}`);
    const name = text.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        j++;
        value += UNESCAPE[text[j] ?? ''] ?? text[j] ?? '';
      } else {
        value += text[j];
      }
    }
    if (j >= text.length) throw new Error(`unterminated label value in: ${line}`);
    labels[name] = value;
    i = j + 1;
  }
  return labels;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(text);
}

/** Parses a whole exposition; malformed lines are skipped and counted in `errors`. */
export function parsePrometheusText(text: string): { samples: Sample[]; errors: number } {
  const samples: Sample[] = [];
  let errors = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      let name: string;
      let labels: Record<string, string> = {};
      let rest: string;
      const brace = line.indexOf('{');
      const space = line.indexOf(' ');
      if (brace >= 0 && (space < 0 || brace < space)) {
        const close = line.lastIndexOf('}');
        if (close < brace) throw new Error(`unclosed labels in: ${line}`);
        name = line.slice(0, brace);
        labels = parseLabels(line.slice(brace + 1, close), line);
        rest = line.slice(close + 1).trim();
      } else {
        if (space < 0) throw new Error(`no value in: ${line}`);
        name = line.slice(0, space);
        rest = line.slice(space + 1).trim();
      }
      const valueText = rest.split(/\s+/)[0] ?? '';
      const value = parseValue(valueText);
      if (Number.isNaN(value) && valueText !== 'NaN') throw new Error(`bad value in: ${line}`);
      samples.push({ name, labels, value });
    } catch {
      errors++;
    }
  }
  return { samples, errors };
}

/** Sum of the samples named `name` whose labels include every pair in `match`. */
export function sumOf(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): number | undefined {
  let total: number | undefined;
  for (const s of samples) {
    if (s.name !== name) continue;
    let ok = true;
    for (const key in match) {
      if (s.labels[key] !== match[key]) {
        ok = false;
        break;
      }
    }
    if (ok) total = (total ?? 0) + s.value;
  }
  return total;
}

/** Samples named `name` grouped by the value of `label` (summed). */
export function byLabel(samples: readonly Sample[], name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = s.labels[label] ?? '';
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}
