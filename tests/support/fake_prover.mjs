// @ts-check
// A stand-in for the o1js prover program that speaks the same JSON-lines protocol in
// milliseconds, for unit tests of the Python pool (recycling, timeouts, crashes).
// Behaviour per request op: "prove" answers after params.delayMs; "crash" exits at once;
// "hang" never answers; "refuse" answers an invalid_signature error.
import readline from 'node:readline';

if (process.env.FAKE_PROVER_FAIL_START) {
  process.stderr.write(JSON.stringify({ level: 'error', message: 'compile exploded (fake)' }) + '\n');
  process.exit(3);
}
process.stdout.write(JSON.stringify({ event: 'ready', compileSeconds: 0 }) + '\n');
const write = (m) => process.stdout.write(JSON.stringify(m) + '\n');
for await (const line of readline.createInterface({ input: process.stdin })) {
  const { id, op, params = {} } = JSON.parse(line);
  if (op === 'crash') process.exit(9);
  if (op === 'hang') continue;
  if (op === 'refuse') {
    write({ id, ok: false, error: { code: 'invalid_signature', message: 'nope' } });
    continue;
  }
  await new Promise((resolve) => setTimeout(resolve, params.delayMs ?? 0));
  write({ id, ok: true, result: { pid: process.pid } });
}
process.exit(0);
