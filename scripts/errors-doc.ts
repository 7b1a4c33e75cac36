// `npm run docs:errors`: rewrites the code table of docs/errors.md from src/errors.ts (test/errors.test.ts
// fails when a code is missing from the doc).
import { readFileSync, writeFileSync } from 'node:fs';
import { ERRORS } from '../src/errors.js';

const path = new URL('../docs/errors.md', import.meta.url);
const START = '<!-- codes:start -->';
const END = '<!-- codes:end -->';
const table = ['| code | status | meaning |', '|---|---|---|', ...Object.entries(ERRORS).map(([code, spec]) => `| \`${code}\` | ${spec.status} | ${spec.message} |`)].join('\n');
const doc = readFileSync(path, 'utf8');
const from = doc.indexOf(START);
const to = doc.indexOf(END);
if (from < 0 || to < 0) throw new Error(`docs/errors.md needs the ${START} and ${END} markers`);
writeFileSync(path, `${doc.slice(0, from + START.length)}\n${table}\n${doc.slice(to)}`);
