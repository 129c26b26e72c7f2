// @ts-check
// A stand-in for the o1js program (node/js/src/main.js) that needs no o1js: it speaks the
// same JSON-lines protocol, writes every request it gets to STUB_REQUESTS (one JSON line
// each) and answers from STUB_ANSWERS ({"op": result, ...}; an op missing there gets an
// "unknown op" bad_request, as the real program answers).
import fs from 'node:fs';
import readline from 'node:readline';

const answers = JSON.parse(process.env.STUB_ANSWERS ?? '{}');
const requests = process.env.STUB_REQUESTS;
process.stdout.write(JSON.stringify({ event: 'ready', compileSeconds: 0 }) + '\n');
const write = (m) => process.stdout.write(JSON.stringify(m) + '\n');
for await (const line of readline.createInterface({ input: process.stdin })) {
  const request = JSON.parse(line);
  if (requests) fs.appendFileSync(requests, JSON.stringify(request) + '\n');
  const { id, op } = request;
  if (Object.hasOwn(answers, op)) write({ id, ok: true, result: answers[op] });
  else write({ id, ok: false, error: { code: 'bad_request', message: `unknown op ${op}` } });
}
process.exit(0);
