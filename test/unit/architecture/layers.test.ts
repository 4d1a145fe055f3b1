import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkFile, findLayerViolations, importsOf } from '../../../scripts/check-layers.ts';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

test('the source tree has no import pointing the wrong way', () => {
  const violations = findLayerViolations(SRC);
  assert.deepEqual(violations, [], violations.map((v) => `${v.file} -> ${v.specifier}: ${v.reason}`).join('\n'));
});

test('the checker sees every import form', () => {
  const source = [
    "import { a } from './a.ts';",
    "import type { B } from '../b.ts';",
    "export { c } from './c.ts';",
    "export * from './d.ts';",
    "import './side-effect.ts';",
    "const e = await import('./e.ts');",
    "const f = require('node:fs');",
    "import {\n  g,\n  h,\n} from 'pkg';",
  ].join('\n');
  assert.deepEqual(importsOf(source), ['./a.ts', '../b.ts', './c.ts', './d.ts', './side-effect.ts', './e.ts', 'node:fs', 'pkg']);
});

test('core importing Node I/O, a package or a service is a violation', () => {
  const file = join(SRC, 'core', 'x.ts');
  assert.equal(checkFile(file, "import { readFileSync } from 'node:fs';", SRC).length, 1);
  assert.equal(checkFile(file, "import fs from 'fs';", SRC).length, 1);
  assert.equal(checkFile(file, "import { z } from 'zod';", SRC).length, 1);
  assert.equal(checkFile(file, "import { x } from '../gateway/x.ts';", SRC).length, 1);
  assert.equal(checkFile(file, "import { x } from '../matching/x.ts';", SRC).length, 1);
  assert.equal(checkFile(file, "import { x } from './units.ts';", SRC).length, 0);
});

test('matching may use core only; a service may not import another service; cli may wire all', () => {
  assert.equal(checkFile(join(SRC, 'matching', 'book.ts'), "import { x } from '../core/units.ts';", SRC).length, 0);
  assert.equal(checkFile(join(SRC, 'matching', 'book.ts'), "import { x } from '../bus/redis.ts';", SRC).length, 1);
  assert.equal(checkFile(join(SRC, 'matching', 'book.ts'), "import net from 'node:net';", SRC).length, 1);
  assert.equal(checkFile(join(SRC, 'gateway', 'g.ts'), "import { x } from '../execution/e.ts';", SRC).length, 1);
  assert.equal(checkFile(join(SRC, 'gateway', 'g.ts'), "import { x } from '../bus/redis.ts';", SRC).length, 0);
  assert.equal(checkFile(join(SRC, 'bus', 'b.ts'), "import { x } from '../sim/s.ts';", SRC).length, 1);
  assert.equal(checkFile(join(SRC, 'cli', 'main.ts'), "import { x } from '../execution/e.ts';", SRC).length, 0);
});
