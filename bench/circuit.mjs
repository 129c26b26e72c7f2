// @ts-check
// Rows of the AuthenticityProgram per curve, per part of P-256's check and per window choice
// (bench/circuit.py runs this against the installed o1js). Prints one JSON line.
import { Field, Provable, ZkProgram } from 'o1js';
import { authenticityProgram } from '../src/circuit.js';
import { assertEcdsaHalfScalars, digestScalar, parts, WINDOWS } from '../src/ecdsa.js';
import { Ecdsa, Field3, Point, initialAggregator } from '../src/o1js-internal.js';

const r1 = authenticityProgram('secp256r1');
const { Curve, Signature, PublicInput } = r1;

async function rows(name, check) {
  const program = ZkProgram({
    name, publicInput: PublicInput,
    methods: { run: { privateInputs: [Signature], async method(input, signature) {
      check(input, signature);
    } } },
  });
  return (await program.analyzeMethods()).run.rows;
}

const args = (input, signature) => [Curve.Bigint, { r: signature.r.value, s: signature.s.value },
  digestScalar(input.digest), { x: input.signer.x.value, y: input.signer.y.value }];
const stock = (config) => (input, signature) => {
  const [C, sig, e, P] = args(input, signature);
  Ecdsa.verify(C, sig, e, P, config).assertTrue();
};
const half = (windows) => (input, signature) =>
  assertEcdsaHalfScalars(...args(input, signature), undefined, windows);

// Parts of the half-scalar check, each alone on witnessed inputs.
const point = () => Provable.witness(Point.provable, () => Point.from(Curve.Bigint.one));
const scalar = (limbs) => Provable.witness(Field3, () => Field3.from(1n)).slice(0, limbs);
const result = {
  secp256k1: (await authenticityProgram('secp256k1').Program.analyzeMethods()).verifySignature.rows,
  secp256r1: (await r1.Program.analyzeMethods()).verifySignature.rows,
  inputsOnly: await rows('inputs', () => {}),
  stock: {}, half: {},
  parts: {
    doublingChain: await rows('chain', () => parts.doublingChain(Curve.Bigint,
      Point.from(initialAggregator(Curve.Bigint)),
      [[...scalar(2), Field(0)], [...scalar(2), Field(0)]],
      [point(), point()], WINDOWS.variable)),
    comb: await rows('comb', () => parts.fixedBaseComb(Curve.Bigint, point(), scalar(3),
      WINDOWS.comb)),
  },
};
for (const [G, P] of [[4, 3], [5, 3], [4, 4], [6, 3], [4, 2]]) {
  result.stock[`G${G} P${P}`] = await rows(`stock${G}${P}`,
    stock({ G: { windowSize: G }, P: { windowSize: P } }));
}
for (const [variable, comb] of [[3, 4], [2, 4], [4, 4], [3, 3], [3, 5], [3, 6]]) {
  result.half[`variable ${variable} comb ${comb}`] = await rows(`half${variable}${comb}`,
    half({ variable, comb }));
}
console.log(JSON.stringify(result));
