// Validates an AsyncAPI document with the official parser (@asyncapi/parser, from npm): exit 0
// when it has no error; every diagnostic is printed as a JSON line.
import { Parser } from '@asyncapi/parser';
import { readFileSync } from 'node:fs';

const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(process.argv[2], 'utf8'));
const errors = diagnostics.filter(d => d.severity === 0);
for (const d of diagnostics) {
  console.log(JSON.stringify({ severity: d.severity, code: d.code, message: d.message, path: d.path.join('/') }));
}
process.exit(document && errors.length === 0 ? 0 : 1);
