// @ts-check
// The JSON-lines protocol. One request per line on stdin, one answer per line on stdout:
//   {"id": 7, "op": "prove", "params": {...}}  ->  {"id": 7, "ok": true, "result": {...}}
//                                              or {"id": 7, "ok": false, "error": {"code", "message"}}
// Error codes the Python side acts on: "invalid_signature" and "bad_request" (retrying cannot
// help), "internal" (retry). Logs go to stderr, never stdout. Requests are served one at a
// time: proving is CPU-bound, concurrency comes from running several processes.
import readline from 'node:readline';
import { verify } from 'o1js';
import { Bytes32 } from './circuit.js';

export class RequestError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const HEX64 = /^[0-9a-fA-F]{64}$/;

// o1js errors can carry a whole serialized proof; keep answers readable.
function brief(error) {
  const text = String(error?.message ?? error).split('\n')[0];
  return text.length > 300 ? text.slice(0, 300) + '…' : text;
}

function hex64(value, name) {
  if (typeof value !== 'string' || !HEX64.test(value)) {
    throw new RequestError('bad_request', `${name} must be 64 hex characters`);
  }
  return BigInt('0x' + value);
}

function digestBytes(hex) {
  hex64(hex, 'digest');
  return Bytes32.from(Buffer.from(hex, 'hex'));
}

function signerPoint(circuit, signer) {
  const x = hex64(signer?.x, 'signer.x');
  const y = hex64(signer?.y, 'signer.y');
  try {
    return circuit.Curve.from({ x, y });
  } catch (error) {
    throw new RequestError('bad_request', `the signer key is not a point on the curve`);
  }
}

export function makeOps({ circuit, verificationKey, curveName, log }) {
  return {
    async info() {
      // Where the resident memory is: V8's heap, buffers it tracks (external), the rest
      // native (the Rust prover's allocations, code).
      const memory = process.memoryUsage();
      return {
        curve: curveName,
        verificationKeyHash: verificationKey.hash.toString(),
        rss: memory.rss,
        memory,
      };
    },

    async prove({ digest, signer, signature }) {
      const input = new circuit.PublicInput({
        digest: digestBytes(digest),
        signer: signerPoint(circuit, signer),
      });
      const r = hex64(signature?.r, 'signature.r');
      const s = hex64(signature?.s, 'signature.s');
      if (!circuit.inRange(r) || !circuit.inRange(s)) {
        throw new RequestError('invalid_signature', 'signature r and s must be in [1, n-1]');
      }
      const sig = new circuit.Signature({ r, s: circuit.lowS(s) });
      // Check outside the circuit first: a bad signature fails in milliseconds with a clear
      // reason instead of after seconds of proving.
      if (!sig.verifySignedHash(input.digest, input.signer).toBoolean()) {
        throw new RequestError(
          'invalid_signature',
          'the ECDSA signature does not verify for this digest and signer'
        );
      }
      const started = Date.now();
      const { proof } = await circuit.Program.verifySignature(input, sig);
      log('prove', `proved in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return { proof: proof.toJSON(), seconds: (Date.now() - started) / 1000 };
    },

    async verify({ proof, digest, signer }) {
      if (!proof || typeof proof !== 'object' || !Array.isArray(proof.publicInput)) {
        throw new RequestError('bad_request', 'proof must be an o1js proof JSON object');
      }
      // The proof must be about this digest and signer, not just valid for something.
      if (digest !== undefined || signer !== undefined) {
        const expected = circuit.PublicInput.toFields(
          new circuit.PublicInput({
            digest: digestBytes(digest),
            signer: signerPoint(circuit, signer),
          })
        ).map((field) => field.toString());
        const actual = proof.publicInput.map(String);
        if (expected.length !== actual.length || expected.some((f, i) => f !== actual[i])) {
          return { valid: false, reason: 'the proof is for another digest or signer' };
        }
      }
      let valid = false;
      try {
        valid = await verify(proof, verificationKey);
      } catch (error) {
        return { valid: false, reason: `malformed proof: ${brief(error)}` };
      }
      return valid ? { valid: true } : { valid: false, reason: 'the proof does not verify' };
    },
  };
}

export async function serve(ops, log) {
  const write = (message) => process.stdout.write(JSON.stringify(message) + '\n');
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let request;
    try {
      request = JSON.parse(line);
    } catch {
      write({ id: null, ok: false, error: { code: 'bad_request', message: 'not JSON' } });
      continue;
    }
    const { id = null, op, params = {} } = request;
    const handler = Object.hasOwn(ops, op) ? ops[op] : undefined;
    if (!handler) {
      write({ id, ok: false, error: { code: 'bad_request', message: `unknown op ${op}` } });
      continue;
    }
    const started = Date.now();
    try {
      write({ id, ok: true, result: await handler(params) });
    } catch (error) {
      const code = error instanceof RequestError ? error.code : 'internal';
      if (code === 'internal') log('error', error.stack ?? String(error), 'error');
      write({ id, ok: false, error: { code, message: brief(error) } });
    }
    // A proof leaves ~125 MiB of garbage in V8's old generation, which V8 collects only
    // when the heap nears its limit, so RSS climbed by that much a proof for several proofs
    // (bench/README.md "Prover memory"). Collecting after each long op (the answer is
    // already written) starts every proof from the same heap. Needs node --expose-gc.
    if (Date.now() - started >= 1000) globalThis.gc?.();
  }
}
