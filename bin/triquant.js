#!/usr/bin/env node
// Entry point of the `triquant` command. Plain JavaScript so that an old Node gets a clear
// message instead of a syntax error: the project runs TypeScript natively (type stripping),
// which needs Node >= 22.18.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `triquant needs Node >= 22.18 (this is ${process.version}). ` +
      'Run it through npm (`npm start`, `npx triquant`) so the project\'s own Node from ' +
      'node_modules is used, or install Node 24.',
  );
  process.exit(1);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
