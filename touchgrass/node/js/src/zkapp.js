// AuthenticityZkApp: one per challenge. Its admin (the deployer, our fee payer) publishes
// receipts: `verifyAndStore` verifies an AuthenticityProgram proof, mints one token of this
// zkApp to a NEW token account at `tokenOwner` (the photographer's on-chain receipt) and
// writes into that account's app state what was proven:
//   [0] chain id   [1,2] digest high/low 128 bits   [3..6] signer x high/low, y high/low
// Anyone can then check a photo: hash it, read the token account, compare.
import {
  AccountUpdate,
  AccountUpdateForest,
  Bool,
  declareMethods,
  declareState,
  Field,
  Permissions,
  PublicKey,
  State,
  TokenContract,
  UInt64,
  ZkProgram,
} from 'o1js';

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

export function authenticityZkApp(circuit) {
  class AuthenticityProof extends ZkProgram.Proof(circuit.Program) {}

  class AuthenticityZkApp extends TokenContract {
    constructor(address, tokenId) {
      super(address, tokenId);
      // Assigned (not a class field) so declareState's setter binds it to the contract.
      this.admin = State();
    }

    async deploy(args) {
      await super.deploy(args);
      this.account.permissions.set({
        ...Permissions.default(),
        // receipts are forever: nobody may change the contract after deployment
        setVerificationKey: Permissions.VerificationKey.impossibleDuringCurrentVersion(),
        setPermissions: Permissions.impossible(),
      });
      this.admin.set(this.sender.getUnconstrained());
    }

    // Custom token movements are not allowed: receipts are minted by verifyAndStore only.
    async approveBase(forest) {
      forest.isEmpty().assertTrue('receipts cannot be transferred');
    }

    async verifyAndStore(tokenOwner, chainId, proof) {
      const admin = this.admin.getAndRequireEquals();
      AccountUpdate.createSigned(admin); // only the admin publishes
      proof.verify();
      const receipt = this.internal.mint({ address: tokenOwner, amount: UInt64.one });
      receipt.account.isNew.requireEquals(Bool(true)); // one receipt per token owner
      receipt.requireSignature(); // the new account's state is set with its owner's key
      const digest = proof.publicInput.digest.bytes;
      const [xHigh, xLow] = halves(proof.publicInput.signer.x);
      const [yHigh, yLow] = halves(proof.publicInput.signer.y);
      const values = [chainId, bytesToField(digest.slice(0, 16)), bytesToField(digest.slice(16)),
                      xHigh, xLow, yHigh, yLow];
      values.forEach((value, i) => {
        receipt.body.update.appState[i] = { isSome: Bool(true), value };
      });
    }
  }

  // Plain JS has no decorators: declare the state and the methods' argument types.
  declareState(AuthenticityZkApp, { admin: PublicKey });
  declareMethods(AuthenticityZkApp, {
    approveBase: [AccountUpdateForest],
    verifyAndStore: [PublicKey, Field, AuthenticityProof],
  });
  return { AuthenticityZkApp, AuthenticityProof };
}
