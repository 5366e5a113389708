#!/usr/bin/env node
// Parse an AsyncAPI document with the official parser (@asyncapi/parser, pinned in package-lock.json)
// and exit non-zero when it reports any error. Warnings and hints are printed but do not fail.
//
//   node deploy/tools/npm/validate-asyncapi.cjs docs/asyncapi.yaml
//
// The parser is loaded from the folder deploy/tools/npm/install.sh installed it into (C360_NPM_TOOLS,
// default .local/tools/npm): this script stays in the repository, its dependencies do not.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { createRequire } = require('node:module');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const TOOLS = process.env.C360_NPM_TOOLS || path.join(ROOT, '.local', 'tools', 'npm');
const SEVERITY = ['error', 'warning', 'info', 'hint'];

async function main(argv) {
  if (argv.length !== 1) {
    console.error('usage: validate-asyncapi.cjs <asyncapi.yaml>');
    return 2;
  }
  const file = path.resolve(argv[0]);
  const manifest = path.join(TOOLS, 'package.json');
  if (!fs.existsSync(path.join(TOOLS, 'node_modules', '@asyncapi', 'parser'))) {
    console.error(`@asyncapi/parser is not installed in ${TOOLS}: run deploy/tools/npm/install.sh`);
    return 2;
  }
  const { Parser, fromFile } = createRequire(manifest)('@asyncapi/parser');
  const version = createRequire(manifest)('@asyncapi/parser/package.json').version;
  const { document, diagnostics } = await fromFile(new Parser(), file).parse();
  let errors = 0;
  for (const d of diagnostics) {
    const where = (d.path || []).join('.') || '(document)';
    const line = d.range ? `:${d.range.start.line + 1}` : '';
    console.log(`${SEVERITY[d.severity] || d.severity} ${d.code} at ${where} (${path.basename(file)}${line}): ${d.message}`);
    if (d.severity === 0) errors += 1;
  }
  if (errors || !document) {
    console.log(`@asyncapi/parser ${version}: ${errors} error(s) in ${file}`);
    return 1;
  }
  console.log(`@asyncapi/parser ${version}: ${file} is valid AsyncAPI ${document.version()}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error) => { console.error(error && error.stack ? error.stack : error); process.exitCode = 2; },
);
