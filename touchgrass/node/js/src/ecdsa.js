// @ts-check
// ECDSA verification with half-length scalars, for curves without an endomorphism (P-256).
//
// o1js's verifyEcdsa computes R = u1*G + u2*P with 256-bit scalars: 255 foreign-field
// doublings, which put P-256's circuit at 40,280 rows, padded to a 2^16 domain. secp256k1
// fits 2^15 because o1js splits its scalars in half with the curve's endomorphism (GLV);
// P-256 has none. The same halving is available for any curve when R is a witness
// (Antipa et al., "Accelerated verification of ECDSA signatures", SAC 2005):
//
//   the prover supplies R = (r, y) and small v, z with v*u2 = z (mod n), |v|, |z| < 2^128,
//   found by running the extended Euclidean algorithm on (n, u2) until the remainder drops
//   below 2^128 (the remainder is z, its coefficient of u2 is v), and c = v*u1 (mod n).
//   The circuit checks, without an inversion (u1 = e/s, u2 = r/s):
//     v*r = z*s (mod n),  c*s = v*e (mod n),  R on the curve with R.x = r,  v != 0,
//     v*R = c*G + z*P  as one multi-scalar multiplication that must sum to zero.
//
// Soundness: the two congruences give v*u2 = z and c = v*u1, so the last line says
// v*(R - u1*G - u2*P) = 0; v is in [1, n) and n is prime, so R = u1*G + u2*P, whose x is r:
// exactly ECDSA's check (it rejects the ~2^-128-likely valid signature whose R.x is r + n).
// v*R and z*P share 127 doublings of 128-bit scalars; c*G uses a fixed-base comb of
// constant tables (j * 2^(4i) * G), which costs additions but no doublings.
//
// The gadgets are o1js's own, from its internal modules (o1js-internal.js holds every such
// import).
import { Bool, Field, Provable } from 'o1js';
import {
  EllipticCurve, Field3, ForeignField, Point, arrayGetGeneric, exists, initialAggregator, inverse,
  mod, sliceField3, split,
} from './o1js-internal.js';

const HALF_BITS = 128; // |v|, |z| < 2^128 (see halfGcd)
// Window sizes: bits of a scalar added at once from a table of multiples. bench/README.md
// "P-256 circuit" has the rows of the other choices; these are the fewest.
export const WINDOWS = { variable: 3, comb: 4 };

export const INVALID_SIGNATURE = 'the ECDSA signature does not verify for this digest and signer';

/**
 * Constrain that `signature` (Field3 r, s, each range-checked and almost reduced, as o1js's
 * EcdsaSignature.check leaves them) signs `msgHash` (Field3 limbs of 88 bits, < 2^256) for
 * `publicKey` ({x, y} of Field3 on the curve). The last two are the program's public input,
 * whose type checks (bytes, a point on the curve) run where the proof is used: the contract
 * witnesses the proof, and o1js checks its public input then. `Curve` is the curve's bigint
 * arithmetic (`ForeignCurve.Bigint`). Proving with an invalid signature throws INVALID_SIGNATURE.
 * `witness` is the prover's side; tests pass a lying one to show the constraints refuse it.
 * `windows` is for the benchmark's comparisons.
 */
export function assertEcdsaHalfScalars(Curve, { r, s }, msgHash, publicKey,
  witness = honestWitness, windows = WINDOWS) {
  const { order: n, modulus: p } = Curve;

  // Canonical r and s: r is compared with R.x as is, and s < n makes the signature unique
  // for the malleability rule the Python side applies (low s).
  ForeignField.assertLessThan(r, n);
  ForeignField.assertLessThan(s, n);
  // r != 0 (r < n, so the integer); with v*r = z*s and v != 0 this also gives s != 0.
  r[0].add(r[1].mul(1n << 88n)).add(r[2].mul(1n << 176n)).assertNotEquals(0n);

  const [v0, v1, zAbs0, zAbs1, zSign, c0, c1, c2, y0, y1, y2] = exists(11, () => {
    const w = witness(Curve, Field3.toBigints(r, s, msgHash),
      { x: Field3.toBigint(publicKey.x), y: Field3.toBigint(publicKey.y) });
    return [...split(w.v).slice(0, 2), ...split(w.zAbs).slice(0, 2), w.zNegative ? 1n : 0n,
      ...split(w.c), ...split(w.negRy)];
  });
  // v and |z| have a zero top limb; the comb and the doubling chain slice every limb into
  // bits, which range-checks v, |z| < 2^128 and c < 2^256.
  const v = [v0, v1, Field(0)];
  const zAbs = [zAbs0, zAbs1, Field(0)];
  const c = [c0, c1, c2];
  zSign.assertBool();
  const zNegative = Bool.Unsafe.fromField(zSign);
  v0.add(v1.mul(1n << 88n)).assertNotEquals(0n);

  // v*r = z*s (mod n): v*r = +-(|z|*s).
  const zs = ForeignField.mul(zAbs, s, n);
  const zSigned = Provable.if(zNegative, Field3, ForeignField.negate(zs, n), zs);
  ForeignField.assertMul(v, r, zSigned, n);
  // c*s = v*e (mod n).
  ForeignField.assertMul(c, s, ForeignField.mul(v, msgHash, n), n);

  // -R = (r, -R.y), on the curve; P signed like z.
  const negR = { x: r, y: [y0, y1, y2] };
  EllipticCurve.assertOnCurve(negR, Curve);
  const signedP = {
    x: publicKey.x,
    y: Provable.if(zNegative, Field3, ForeignField.negate(publicKey.y, p), publicKey.y),
  };

  // v*(-R) + z*P + c*G = 0, started from the initial aggregator IA so that no addition
  // meets the point at infinity: the sum must come out as 2^127 * IA.
  const { ia, expected } = constantsOf(Curve, windows.comb);
  let sum = doublingChain(Curve, Point.from(ia), [v, zAbs], [negR, signedP], windows.variable);
  sum = fixedBaseComb(Curve, sum, c, windows.comb);
  ForeignField.equals(sum.x, expected.x, p)
    .and(ForeignField.equals(sum.y, expected.y, p))
    .assertTrue(INVALID_SIGNATURE);
}

/**
 * The digest's 32 bytes, big-endian, as the scalar limbs [low 88 bits, middle 88, top 80],
 * unreduced like o1js's verifySignedHash takes them (< 2^256 is enough for the products).
 */
export function digestScalar(digest) {
  const limb = (bytes) => bytes.reduce((acc, b) => acc.mul(256n).add(b.value), Field(0)).seal();
  return [limb(digest.bytes.slice(21, 32)), limb(digest.bytes.slice(10, 21)),
    limb(digest.bytes.slice(0, 10))];
}

/** sum * 2^(HALF_BITS - 1) + sum_i scalars[i] * points[i], windowed, doublings shared. */
function doublingChain(Curve, sum, scalars, points, window) {
  const tables = points.map((P) => pointTable(Curve, P, window));
  const chunks = scalars.map((k) => sliceField3(k, { maxBits: HALF_BITS, chunkSize: window }));
  for (let bit = HALF_BITS - 1; bit >= 0; bit--) {
    if (bit % window === 0) {
      for (let j = 0; j < points.length; j++) {
        sum = addChosen(Curve, sum, tables[j], chunks[j][bit / window]);
      }
    }
    if (bit > 0) sum = EllipticCurve.double(sum, Curve);
  }
  return sum;
}

/** sum + c*G from constant tables [0, 1, ..., 2^w - 1] * 2^(w*i) * G: additions only. */
function fixedBaseComb(Curve, sum, c, window) {
  const chunks = sliceField3(c, { maxBits: 256, chunkSize: window });
  const { combTables } = constantsOf(Curve, window);
  chunks.forEach((chunk, i) => { sum = addChosen(Curve, sum, combTables[i], chunk); });
  return sum;
}

// The constant points, computed in bigints once per curve and window rather than at every
// run of the method (each proof runs it): the initial aggregator, what the sum must end at,
// and the comb's 256/w tables.
const constants = new Map();

function constantsOf(Curve, window) {
  const key = `${Curve.modulus}:${window}`;
  if (!constants.has(key)) {
    const ia = initialAggregator(Curve);
    const combTables = [];
    let base = Curve.one;
    for (let i = 0; i < Math.ceil(256 / window); i++) {
      const table = [Point.from(Curve.zero)];
      let multiple = base;
      for (let j = 1; j < 1 << window; j++) {
        table.push(Point.from(multiple));
        multiple = Curve.add(multiple, base);
      }
      combTables.push(table);
      base = multiple; // 2^w * base
    }
    constants.set(key, {
      ia, combTables,
      expected: Curve.scale(Curve.fromNonzero(ia), 1n << BigInt(HALF_BITS - 1)),
    });
  }
  return constants.get(key);
}

/** [0, P, 2P, ..., (2^w - 1)P]; entry 0 is never added (addChosen skips it). */
function pointTable(Curve, P, windowSize) {
  const table = [Point.from(Curve.zero), P, EllipticCurve.double(P, Curve)];
  for (let j = 3; j < 1 << windowSize; j++) {
    table.push(EllipticCurve.add(table[j - 1], P, Curve));
  }
  return table;
}

/** sum + table[chunk], or sum itself when the chunk is 0 (the addition is then garbage). */
function addChosen(Curve, sum, table, chunk) {
  const added = EllipticCurve.add(sum, arrayGetGeneric(Point.provable, table, chunk), Curve);
  return Provable.if(chunk.equals(0), Point.provable, sum, added);
}

/** What an honest prover supplies, from bigints; throws INVALID_SIGNATURE for a bad one. */
export function honestWitness(Curve, [r, s, e], publicKey) {
  const { order: n, modulus: p } = Curve;
  const sInverse = inverse(s, n);
  if (sInverse === undefined || r === 0n) throw new Error(INVALID_SIGNATURE);
  const u1 = mod(e * sInverse, n);
  const u2 = mod(r * sInverse, n);
  const P = { ...publicKey, infinity: false };
  const R = Curve.add(Curve.scale(Curve.one, u1), Curve.scale(P, u2));
  if (R.infinity || R.x !== r) throw new Error(INVALID_SIGNATURE);
  const { v, z } = halfGcd(u2, n);
  return {
    v,
    zAbs: z < 0n ? -z : z,
    zNegative: z < 0n,
    c: mod(v * u1, n),
    negRy: mod(-R.y, p),
  };
}

/**
 * v, z with v*u = z (mod n), 0 < v < 2^128 and |z| < 2^128: the extended Euclidean
 * algorithm on (n, u) keeps r_i = t_i*u (mod n); stopping at the first r_i < 2^128 gives
 * |t_i| <= n / r_(i-1) < 2^128.
 * @param {bigint} u @param {bigint} n
 * @returns {{ v: bigint, z: bigint }}
 */
export function halfGcd(u, n) {
  const bound = 1n << BigInt(HALF_BITS);
  let [rPrev, r] = [n, u];
  let [tPrev, t] = [0n, 1n];
  while (r >= bound) {
    const q = rPrev / r;
    [rPrev, r] = [r, rPrev - q * r];
    [tPrev, t] = [t, tPrev - q * t];
  }
  const [v, z] = t < 0n ? [-t, -r] : [t, r];
  if (v === 0n || v >= bound) throw new Error('halfGcd: no short decomposition');
  return { v, z };
}

// The parts, for bench/circuit.mjs's rows per part (not used by the circuit this way).
export const parts = { doublingChain, fixedBaseComb };
