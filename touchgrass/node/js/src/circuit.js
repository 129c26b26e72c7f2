// @ts-check
// The AuthenticityProgram: "there is an ECDSA signature by the signer key P over the 32-byte
// digest D". D is the SHA-256 of the photo, computed outside (hashing megabytes inside a
// circuit is out of reach); the proof binds D to P. One program per curve: the verification
// key depends on it, and a deployment uses one curve (SIGNER_CURVE).
import { Bytes, createEcdsa, createForeignCurve, Crypto, Struct, ZkProgram } from 'o1js';
import { assertEcdsaHalfScalars, digestScalar, INVALID_SIGNATURE } from './ecdsa.js';

export const CURVES = {
  secp256k1: Crypto.CurveParams.Secp256k1,
  secp256r1: Crypto.CurveParams.Secp256r1,
};

// How each curve's signature is checked. secp256k1: o1js's verifyEcdsa, whose endomorphism
// split fits 2^15 rows. secp256r1 has no endomorphism: ecdsa.js halves its scalars with a
// witnessed R instead (40,280 rows with verifyEcdsa, a 2^16 domain and twice the prove time).
const VERIFY = {
  secp256k1(Curve, input, signature) {
    signature.verifySignedHash(input.digest, input.signer).assertTrue(INVALID_SIGNATURE);
  },
  secp256r1(Curve, input, signature) {
    assertEcdsaHalfScalars(Curve.Bigint, { r: signature.r.value, s: signature.s.value },
      digestScalar(input.digest), { x: input.signer.x.value, y: input.signer.y.value });
  },
};

export class Bytes32 extends Bytes(32) {}

export function authenticityProgram(curveName) {
  const params = CURVES[curveName];
  if (!params) throw new Error(`unknown curve ${curveName}: use secp256k1 or secp256r1`);

  class Curve extends createForeignCurve(params) {}
  class Signature extends createEcdsa(Curve) {}
  class PublicInput extends Struct({ digest: Bytes32, signer: Curve }) {}

  const Program = ZkProgram({
    name: `touchgrass-authenticity-${curveName}`,
    publicInput: PublicInput,
    methods: {
      verifySignature: {
        privateInputs: [Signature],
        async method(input, signature) {
          // A public input is not range-checked by o1js: check it here (bytes below 256, a
          // point on the curve with reduced coordinates), so a proof means the same thing
          // wherever it is verified. About 300 rows; the circuit still fits 2^15.
          PublicInput.check(input);
          // The digest's 32 bytes, big-endian, are the ECDSA message hash as-is.
          VERIFY[curveName](Curve, input, signature);
        },
      },
    },
  });

  const order = params.order;
  return {
    Program,
    Curve,
    Signature,
    PublicInput,
    // s and n - s both verify (malleability); proving the low one means one digest always
    // gets the same proof inputs.
    lowS(s) {
      return s > order / 2n ? order - s : s;
    },
    inRange(value) {
      return value > 0n && value < order;
    },
  };
}
