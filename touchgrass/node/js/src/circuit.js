// The AuthenticityProgram: "there is an ECDSA signature by the signer key P over the 32-byte
// digest D". D is the SHA-256 of the photo, computed outside (hashing megabytes inside a
// circuit is out of reach); the proof binds D to P. One program per curve: the verification
// key depends on it, and a deployment uses one curve (SIGNER_CURVE).
import { Bytes, createEcdsa, createForeignCurve, Crypto, Struct, ZkProgram } from 'o1js';

export const CURVES = {
  secp256k1: Crypto.CurveParams.Secp256k1,
  secp256r1: Crypto.CurveParams.Secp256r1,
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
          // The digest's 32 bytes, big-endian, are the ECDSA message hash as-is.
          signature
            .verifySignedHash(input.digest, input.signer)
            .assertTrue('the ECDSA signature does not verify for this digest and signer');
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
