// @ts-check
// Chain operations of the prover service: build, prove and sign the zkApp transactions that
// the Python publisher sends. Each op reads what it needs from the node (`endpoint`, the
// same GraphQL the publisher uses), sets the fee payer's nonce explicitly (the publisher
// owns nonces) and returns the signed command JSON with its hash, sending nothing itself.
import {
  AccountUpdate, Field, Mina, PrivateKey, PublicKey, Signature, TokenId, Transaction, fetchAccount,
} from 'o1js';
import { signZkappCommand } from './o1js-internal.js';
import { adminMessage } from './zkapp.js';
import { RequestError } from './service.js';

// Commands are signed by o1js's own JSON signer (its bundled mina-signer, through
// o1js-internal.js), the same code o1js signs with: it signs the fee payer and every
// signature-authorised account update of the key, on the JSON command, leaving proofs as
// they are.

function network(endpoint, networkId) {
  if (typeof endpoint !== 'string' || !/^https?:\/\//.test(endpoint)) {
    throw new RequestError('bad_request', 'endpoint must be the node GraphQL URL');
  }
  Mina.setActiveInstance(Mina.Network({ mina: endpoint, networkId: networkId ?? 'devnet' }));
}

function privateKey(base58, name) {
  try {
    return PrivateKey.fromBase58(base58);
  } catch {
    throw new RequestError('bad_request', `${name} is not a Mina private key`);
  }
}

async function fetched(publicKey, tokenId) {
  const { account, error } = await fetchAccount({ publicKey, tokenId });
  if (error || !account) {
    throw new RequestError('chain', `account ${publicKey.toBase58()} not found on the node`);
  }
  return account;
}

async function signed(tx, keys) {
  await tx.prove();
  tx.sign(keys);
  const command = JSON.parse(tx.toJSON());
  return { command, hash: await Transaction.hash(command) };
}

export function makeChainOps({ zkapp, log }) {
  const { AuthenticityZkApp, AuthenticityProof, receiptOf } = zkapp;
  return {
    async public_key_of({ privateKey: key }) {
      return { publicKey: privateKey(key, 'privateKey').toPublicKey().toBase58() };
    },

    async token_id({ zkappAddress }) {
      return { tokenId: TokenId.toBase58(TokenId.derive(PublicKey.fromBase58(zkappAddress))) };
    },

    // A proven command given another nonce: new signatures, the same proofs. Valid because
    // no proven account update of ours mentions the fee payer's nonce (docs/decisions.md,
    // "What depends on the nonce"; test_devnet checks it on every run).
    async resign_transaction({ command, nonce, networkId, feePayerKey }) {
      if (!command || typeof command !== 'object' || !command.feePayer) {
        throw new RequestError('bad_request', 'command must be a zkApp command (JSON)');
      }
      if (!Number.isSafeInteger(Number(nonce)) || Number(nonce) < 0) {
        throw new RequestError('bad_request', 'nonce must be a non-negative integer');
      }
      const payer = privateKey(feePayerKey, 'feePayerKey');
      const network = networkId ?? 'devnet';
      const renonced = structuredClone(command);
      renonced.feePayer.body.nonce = String(nonce);
      const signed = signZkappCommand(renonced, payer.toBase58(), network);
      return { command: signed, hash: await Transaction.hash(signed) };
    },

    async deploy_transaction({ endpoint, networkId, feePayerKey, nonce, fee }) {
      network(endpoint, networkId);
      const payer = privateKey(feePayerKey, 'feePayerKey');
      const zkappPrivate = PrivateKey.random();
      const sender = payer.toPublicKey();
      await fetched(sender);
      const started = Date.now();
      const tx = await Mina.transaction({ sender, fee: String(fee), nonce: Number(nonce) }, async () => {
        AccountUpdate.fundNewAccount(sender);
        await new AuthenticityZkApp(zkappPrivate.toPublicKey()).deploy();
      });
      const result = await signed(tx, [payer, zkappPrivate]);
      log('deploy', `deploy transaction built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const zkappAddress = zkappPrivate.toPublicKey();
      return { ...result, zkappAddress: zkappAddress.toBase58(),
               tokenId: TokenId.toBase58(TokenId.derive(zkappAddress)) };
    },

    // One account update recording one or two photos of one zkApp (`recordOne`/`recordTwo`),
    // proven, in a command of its own. The publisher puts the account updates of several
    // such commands into one and signs that for the lane's nonce (docs/decisions.md,
    // "Batches"): proofs are made here, once per update, and never depend on the command.
    async record_transaction({
      endpoint, networkId, feePayerKey, nonce, fee, zkappAddress, photos,
    }) {
      network(endpoint, networkId);
      if (!Array.isArray(photos) || photos.length < 1 || photos.length > 2) {
        throw new RequestError('bad_request', 'photos must list one or two {chainId, proof}');
      }
      const payer = privateKey(feePayerKey, 'feePayerKey');
      const sender = payer.toPublicKey();
      const proven = [];
      for (const { chainId, proof } of photos) {
        try {
          proven.push([Field(BigInt(chainId)), await AuthenticityProof.fromJSON(proof)]);
        } catch (error) {
          throw new RequestError('bad_request', `a stored proof cannot be read: ${error.message}`);
        }
      }
      const address = PublicKey.fromBase58(zkappAddress);
      await fetched(sender);
      await fetched(address);
      const app = new AuthenticityZkApp(address);
      // The admin's consent, checked by the contract: the admin is this fee payer.
      const signature = Signature.create(
        payer, adminMessage(address, proven.map(([chainId, proof]) => receiptOf(chainId, proof))));
      const started = Date.now();
      const tx = await Mina.transaction({ sender, fee: String(fee), nonce: Number(nonce) }, async () => {
        if (proven.length === 1) await app.recordOne(...proven[0], signature);
        else await app.recordTwo(...proven[0], ...proven[1], signature);
      });
      const result = await signed(tx, [payer]);
      log('publish', `record transaction (${proven.length} photo(s)) built in ` +
          `${((Date.now() - started) / 1000).toFixed(1)} s`);
      return result;
    },
  };
}
