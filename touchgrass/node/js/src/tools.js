// @ts-check
// Entry point of a checks process: what `verify` and `verify-proof` need from o1js, without
// compiling anything (so it is ready in under a second). Same JSON-lines protocol as
// service.js. Ops:
//   verify_proof  {curve, verificationKey: {data, hash}, proof, digest?, signer?}
//                 a proof checked against a STORED verification key (node/verification_keys.json)
//   action_state  {updates: [[[field, ...], ...], ...]}
//                 the zkApp action-state hash after these actions, one list per account
//                 update in chain order, from the empty state: what a node's account
//                 `actionState` must equal when the list is complete and untampered
//   action_states {start, blocks: [[[[field, ...], ...], ...], ...]}
//                 the same fold from `start`, block by block (each block a list of account
//                 updates): the action state after each block, in order
//   token_id      {zkappAddress}  the token id the zkApp's address derives (base58)
//   sign_fields   {privateKey, fields}            a Mina signature (base58) over field elements
//   verify_fields {publicKey, fields, signature}  whether it verifies: {valid}
//   public_key_of {privateKey}    the Mina address of a key (the operator's, from its fee
//                                 payer key: what `verify` and `trust` pin)
import {
  AccountUpdate, Cache, Field, PrivateKey, PublicKey, Signature, TokenId, initializeBindings,
  setBackend,
} from 'o1js';
import { authenticityProgram } from './circuit.js';
import { bindings, setSrsCache } from './o1js-internal.js';
import { makeOps, RequestError, serve } from './service.js';

setBackend(process.env.O1JS_BACKEND === 'wasm' ? 'wasm' : 'native');

// Verifying a proof needs the wrap domain's Lagrange basis, which the native verifier
// computes from scratch on first use (4-5 s here); o1js caches it on disk only when a
// compile asks for it. Asking for it through o1js's SRS cache (CIRCUIT_CACHE_PATH, shared
// with the provers, whose compile writes it) reads it from disk instead, as it does the SRS
// itself; the first run on a machine computes and writes both. The installed o1js's
// internal modules (through o1js-internal.js).
// AuthenticityProgram verifies no proofs, so Pickles wraps it in a 2^13 domain.
const WRAP_DOMAIN_LOG2 = 13;
let basisLoaded = false;

async function loadVerifierCaches() {
  const cacheDir = process.env.CIRCUIT_CACHE_PATH;
  if (basisLoaded || !cacheDir) return;
  basisLoaded = true;
  try {
    await initializeBindings();
    setSrsCache(Cache.FileSystem(cacheDir));
    globalThis.__snarkyTsBindings.srs(bindings.wasm).fq.addLagrangeBasis(
      bindings.Pickles.loadSrsFq(), WRAP_DOMAIN_LOG2);
  } catch (error) {
    // only slower: the verifier computes what it needs itself
    log('cache', `verifier caches not used: ${error.message}`, 'warning');
  }
}

function log(action, message, level = 'info') {
  process.stderr.write(JSON.stringify({ level, action, message, pid: process.pid }) + '\n');
}

process.stdin.on('close', () => process.exit(0));

const FIELD = /^[0-9]{1,78}$/;

function field(value) {
  if (typeof value !== 'string' || !FIELD.test(value) || BigInt(value) >= Field.ORDER) {
    throw new RequestError('bad_request', 'an action field must be a decimal field element');
  }
  return Field(BigInt(value));
}

const ops = {
  async verify_proof({ curve, verificationKey, proof, digest, signer }) {
    if (!verificationKey || typeof verificationKey.data !== 'string') {
      throw new RequestError('bad_request', 'verificationKey must be {data, hash}');
    }
    let circuit;
    try {
      circuit = authenticityProgram(curve);
    } catch (error) {
      throw new RequestError('bad_request', error.message);
    }
    const key = { data: verificationKey.data, hash: field(String(verificationKey.hash)) };
    await loadVerifierCaches();
    return makeOps({ circuit, verificationKey: key, curveName: curve, log }).verify({ proof, digest, signer });
  },

  async action_state({ updates }) {
    if (!Array.isArray(updates) || !updates.every((u) => Array.isArray(u) && u.every(Array.isArray))) {
      throw new RequestError('bad_request', 'updates must be a list of lists of actions');
    }
    const { Actions } = AccountUpdate;
    let state = Actions.emptyActionState();
    for (const actions of updates) {
      const hash = Actions.hash(actions.map((action) => action.map(field)));
      state = Actions.updateSequenceState(state, hash);
    }
    return { actionState: state.toString(), empty: Actions.emptyActionState().toString() };
  },

  async token_id({ zkappAddress }) {
    let address;
    try {
      address = PublicKey.fromBase58(zkappAddress);
    } catch {
      throw new RequestError('bad_request', 'zkappAddress is not a Mina address');
    }
    return { tokenId: TokenId.toBase58(TokenId.derive(address)) };
  },

  async sign_fields({ privateKey, fields }) {
    let key;
    try {
      key = PrivateKey.fromBase58(privateKey);
    } catch {
      throw new RequestError('bad_request', 'privateKey is not a Mina private key');
    }
    if (!Array.isArray(fields)) throw new RequestError('bad_request', 'fields must be a list');
    return { signature: Signature.create(key, fields.map(field)).toBase58() };
  },

  async verify_fields({ publicKey, fields, signature }) {
    if (!Array.isArray(fields)) throw new RequestError('bad_request', 'fields must be a list');
    let key, parsed;
    try {
      key = PublicKey.fromBase58(publicKey);
      parsed = Signature.fromBase58(signature);
    } catch {
      return { valid: false };
    }
    return { valid: parsed.verify(key, fields.map(field)).toBoolean() };
  },

  async public_key_of({ privateKey }) {
    try {
      return { publicKey: PrivateKey.fromBase58(privateKey).toPublicKey().toBase58() };
    } catch {
      throw new RequestError('bad_request', 'privateKey is not a Mina private key');
    }
  },

  async action_states({ start, blocks }) {
    const isUpdates = (/** @type {unknown} */ b) =>
      Array.isArray(b) && b.every((u) => Array.isArray(u) && u.every(Array.isArray));
    if (!Array.isArray(blocks) || !blocks.every(isUpdates)) {
      throw new RequestError('bad_request', 'blocks must be a list of lists of account updates');
    }
    const { Actions } = AccountUpdate;
    let state = start == null ? Actions.emptyActionState() : field(start);
    const states = [];
    for (const updates of blocks) {
      for (const actions of updates) {
        state = Actions.updateSequenceState(state, Actions.hash(actions.map((a) => a.map(field))));
      }
      states.push(state.toString());
    }
    return { states, empty: Actions.emptyActionState().toString() };
  },
};

process.stdout.write(JSON.stringify({ event: 'ready' }) + '\n');
await serve(ops, log);
process.exit(0);
