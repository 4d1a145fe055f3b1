/**
 * Enforces the architecture's import direction (DESIGN.md, "Layout"):
 *   cli → services → bus / protocol / matching → core
 * - core and matching are pure: no Node built-in modules, no packages, nothing above them;
 * - a service imports core, matching, protocol, bus, config — never another service;
 * - only cli wires services together.
 * Usage: node scripts/check-layers.ts   (exits 1 and lists violations)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVICES = ['gateway', 'strategy', 'execution', 'sim', 'backtest', 'monitor'] as const;

/** For each layer under src/: which src/ layers it may import, and whether packages/Node I/O are allowed. */
export const LAYER_RULES: Record<string, { mayImport: readonly string[]; packages: boolean }> = {
  core: { mayImport: ['core'], packages: false },
  matching: { mayImport: ['core', 'matching'], packages: false },
  config: { mayImport: ['core', 'config'], packages: true },
  // Logging and metrics: what every service needs to be observable.
  obs: { mayImport: ['core', 'obs'], packages: true },
  protocol: { mayImport: ['core', 'protocol'], packages: true },
  bus: { mayImport: ['core', 'protocol', 'bus'], packages: true },
  ...Object.fromEntries(
    SERVICES.map((service) => [service, { mayImport: ['core', 'matching', 'protocol', 'bus', 'config', 'obs', service], packages: true }]),
  ),
  cli: { mayImport: ['*'], packages: true },
};

export interface Violation {
  file: string;
  specifier: string;
  reason: string;
}

const BUILTINS = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
// Static imports/exports, dynamic import() with a literal, and require().
const IMPORT_PATTERN = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\brequire\(\s*['"]([^'"]+)['"]\s*\)/gm;

export function importsOf(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(IMPORT_PATTERN)) {
    const specifier = match[1] ?? match[2] ?? match[3] ?? match[4];
    if (specifier) found.push(specifier);
  }
  return found;
}

/** Checks one file's imports; `srcRoot` is the absolute path of src/. */
export function checkFile(file: string, source: string, srcRoot: string): Violation[] {
  const layer = relative(srcRoot, file).split(sep)[0]!;
  const rule = LAYER_RULES[layer];
  const rel = relative(srcRoot, file);
  if (!rule) return [{ file: rel, specifier: '', reason: `src/${layer} is not a known layer; add it to LAYER_RULES deliberately` }];
  const violations: Violation[] = [];
  for (const specifier of importsOf(source)) {
    if (specifier.startsWith('.')) {
      const target = resolve(dirname(file), specifier);
      const targetRel = relative(srcRoot, target);
      const targetLayer = targetRel.startsWith('..') ? '(outside src)' : targetRel.split(sep)[0]!;
      const allowed = rule.mayImport.includes('*') || rule.mayImport.includes(targetLayer);
      if (!allowed) violations.push({ file: rel, specifier, reason: `${layer} may not import ${targetLayer}` });
    } else if (!rule.packages) {
      const kind = BUILTINS.has(specifier) || specifier.startsWith('node:') ? 'the Node module' : 'the package';
      violations.push({ file: rel, specifier, reason: `${layer} is pure and may not import ${kind} "${specifier}"` });
    }
  }
  return violations;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return entry === 'gen' ? [] : sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(entry) ? [path] : [];
  });
}

export function findLayerViolations(srcRoot: string): Violation[] {
  return sourceFiles(srcRoot).flatMap((file) => checkFile(file, readFileSync(file, 'utf8'), srcRoot));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const srcRoot = fileURLToPath(new URL('../src/', import.meta.url));
  const violations = findLayerViolations(srcRoot);
  for (const v of violations) console.error(`src/${v.file}: imports "${v.specifier}": ${v.reason}`);
  console.log(violations.length === 0 ? 'layers: ok' : `layers: ${violations.length} violation(s)`);
  process.exitCode = violations.length === 0 ? 0 : 1;
}
