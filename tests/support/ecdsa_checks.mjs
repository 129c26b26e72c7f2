// @ts-check
// Test helper: the P-256 circuit's signature check (src/ecdsa.js) run in o1js's prover mode
// with constraint checking, against an honest prover and against provers that lie in their
// witness. Prints one JSON line: {rows, halfGcd, cases: {name: "ok" | "<first error line>"}}.
import { createHash, randomBytes } from 'node:crypto';
import { Provable } from 'o1js';
import { authenticityProgram, Bytes32 } from '../src/circuit.js';
import { assertEcdsaHalfScalars, digestScalar, halfGcd, honestWitness } from '../src/ecdsa.js';

const { Program, Curve, Signature, PublicInput, lowS } = authenticityProgram('secp256r1');
const n = Curve.Bigint.order;

// halfGcd on random scalars: v*u = z (mod n), both under 2^128.
let halfGcdFailures = 0;
for (let i = 0; i < 1000; i++) {
  const u = BigInt(`0x${randomBytes(32).toString('hex')}`) % n;
  const { v, z } = halfGcd(u, n);
  const zAbs = z < 0n ? -z : z;
  if ((((v * u - z) % n) + n) % n !== 0n || v <= 0n || v >= 1n << 128n || zAbs >= 1n << 128n) {
    halfGcdFailures += 1;
  }
}

const privateKey = Curve.Scalar.random().toBigInt();
const signer = Curve.generator.scale(privateKey);
const digestOf = (text) => createHash('sha256').update(text).digest();
const signed = digestOf('the photo');
const raw = Signature.signHash(BigInt(`0x${signed.toString('hex')}`), privateKey);
const signature = new Signature({ r: raw.r.toBigInt(), s: lowS(raw.s.toBigInt()) });
const scalarOf = (digest) => BigInt(`0x${digest.toString('hex')}`);

// Each lie starts from the honest witness for the digest that was really signed.
const honestForSigned = (C, [r, s], P) => honestWitness(C, [r, s, scalarOf(signed)], P);
const lies = {
  // the witness of the signed photo, offered for another digest
  otherDigest: { digest: digestOf('another photo'), witness: honestForSigned },
  // R instead of -R
  notNegatedR: { digest: signed,
    witness: (...a) => { const w = honestWitness(...a); return { ...w, negRy: Curve.Bigint.modulus - w.negRy }; } },
  // z with the other sign
  flippedZ: { digest: signed,
    witness: (...a) => { const w = honestWitness(...a); return { ...w, zNegative: !w.zNegative }; } },
  // v = z = c = 0 satisfies both congruences and sums to zero: only "v != 0" refuses it
  zeroScalars: { digest: digestOf('any photo at all'),
    witness: (...a) => ({ ...honestForSigned(...a), v: 0n, zAbs: 0n, zNegative: false, c: 0n }) },
};

async function check(digest, witness) {
  const input = new PublicInput({ digest: Bytes32.from(digest), signer });
  try {
    await Provable.runAndCheck(async () => {
      const i = Provable.witness(PublicInput, () => input);
      const sig = Provable.witness(Signature, () => signature);
      assertEcdsaHalfScalars(Curve.Bigint, { r: sig.r.value, s: sig.s.value },
        digestScalar(i.digest), { x: i.signer.x.value, y: i.signer.y.value }, witness);
    });
    return 'ok';
  } catch (error) {
    return String(error.message ?? error).split('\n')[0];
  }
}

const cases = { honest: await check(signed, undefined) };
for (const [name, lie] of Object.entries(lies)) cases[name] = await check(lie.digest, lie.witness);
const { verifySignature } = await Program.analyzeMethods();
console.log(JSON.stringify({ rows: verifySignature.rows, halfGcdFailures, cases }));
