// @ts-check
// AuthenticityZkApp: one per challenge. Its admin (the deployer, our fee payer) publishes
// receipts: `recordOne` verifies one AuthenticityProgram proof, `recordTwo` two, and each
// photo proven is appended to the zkApp's actions as one action of seven fields (the Receipt
// layout):
//   [0] chain id   [1,2] digest high/low 128 bits   [3..6] signer x high/low, y high/low
// The admin gate is a Schnorr signature by the admin over the zkApp's address and the
// receipts, checked inside the method: the account update needs no signed companion, so a
// command holds five of them (ten photos) under the daemon's size rule (docs/chain.md,
// "Command size"), and nothing proven depends on the fee payer's nonce (a retry re-signs).
// No account is created (the fee is the whole cost). An action is public, indexed by every
// archive node, and committed to by the zkApp account's `actionState`, which a node serves:
// a verifier fetches the actions from any archive, folds them into the action-state hash and
// compares it with the node's, so the archive need not be trusted (docs/receipts.md).
// Nobody can change or remove an action afterwards: actions are only appended, only by a
// proof of this contract (editActionState: proof), and the contract can never be changed.
import {
  declareMethods,
  declareState,
  Field,
  Permissions,
  Provable,
  PublicKey,
  Reducer,
  Signature,
  SmartContract,
  State,
  ZkProgram,
} from 'o1js';

export const RECEIPT_FIELDS = 7;
// The action type: the receipt's fields as one fixed-length array.
const receiptType = Provable.Array(Field, RECEIPT_FIELDS);

// 16 bytes, big-endian, as one field element (fits: 128 < 254 bits).
function bytesToField(bytes) {
  let value = Field(0);
  for (const byte of bytes) value = value.mul(256).add(byte.value);
  return value;
}

// A 256-bit foreign field element as (high 128 bits, low 128 bits).
function halves(foreign) {
  const bits = foreign.toBits(256); // little-endian
  return [Field.fromBits(bits.slice(128, 256)), Field.fromBits(bits.slice(0, 128))];
}

// What a proof records: the receipt's seven fields (the layout above).
function receiptOf(chainId, proof) {
  const digest = proof.publicInput.digest.bytes;
  const [xHigh, xLow] = halves(proof.publicInput.signer.x);
  const [yHigh, yLow] = halves(proof.publicInput.signer.y);
  return [chainId, bytesToField(digest.slice(0, 16)), bytesToField(digest.slice(16)),
          xHigh, xLow, yHigh, yLow];
}

// What the admin signs for one account update: the zkApp's address, then each receipt.
// Used in the circuit (Field variables) and by the builder (constants), so both agree.
export function adminMessage(address, receipts) {
  return [...address.toFields(), ...receipts.flat()];
}

export function authenticityZkApp(circuit) {
  class AuthenticityProof extends ZkProgram.Proof(circuit.Program) {}
  class AuthenticityZkApp extends SmartContract {
    constructor(address, tokenId) {
      super(address, tokenId);
      // Assigned (not class fields) so declareState's and the reducer's setters bind them.
      this.admin = State();
      this.reducer = Reducer({ actionType: receiptType });
    }

    async deploy(args) {
      await super.deploy(args);
      this.account.permissions.set({
        ...Permissions.default(),
        // receipts are forever: nobody may change the contract or its rules after deployment
        // (actions, state: proof of this contract only; the zkApp's own key is discarded)
        editActionState: Permissions.proof(),
        editState: Permissions.proof(),
        setVerificationKey: Permissions.VerificationKey.impossibleDuringCurrentVersion(),
        setPermissions: Permissions.impossible(),
      });
      this.admin.set(this.sender.getUnconstrained());
    }

    // Only the admin publishes: the receipts are recorded when its signature covers them all
    // and names this zkApp (a signature for one challenge's zkApp is refused by another's).
    recordSigned(receipts, signature) {
      const admin = this.admin.getAndRequireEquals();
      signature.verify(admin, adminMessage(this.address, receipts))
        .assertTrue('the receipts are not signed by the zkApp\'s admin');
      for (const receipt of receipts) this.reducer.dispatch(receipt);
    }

    async recordOne(chainId, proof, signature) {
      proof.verify();
      this.recordSigned([receiptOf(chainId, proof)], signature);
    }

    async recordTwo(chainIdA, proofA, chainIdB, proofB, signature) {
      proofA.verify();
      proofB.verify();
      this.recordSigned([receiptOf(chainIdA, proofA), receiptOf(chainIdB, proofB)], signature);
    }
  }

  // Plain JS has no decorators: declare the state and the methods' argument types.
  declareState(AuthenticityZkApp, { admin: PublicKey });
  // (a proof class is one of the argument types o1js takes; its .d.ts says Provable only)
  const proofType = /** @type {any} */ (AuthenticityProof);
  declareMethods(AuthenticityZkApp, {
    recordOne: [Field, proofType, Signature],
    recordTwo: [Field, proofType, Field, proofType, Signature],
  });
  return { AuthenticityZkApp, AuthenticityProof, receiptOf };
}
