// Entry point of a checks process: what `verify` and `verify-proof` need from o1js, without
// compiling anything (so it is ready in under a second). Same JSON-lines protocol as
// service.js. Ops:
//   verify_proof  {curve, verificationKey: {data, hash}, proof, digest?, signer?}
//                 a proof checked against a STORED verification key (node/verification_keys.json)
//   action_state  {updates: [[[field, ...], ...], ...]}
//                 the zkApp action-state hash after these actions, one list per account
//                 update in chain order, from the empty state: what a node's account
//                 `actionState` must equal when the list is complete and untampered
import { AccountUpdate, Field, setBackend } from 'o1js';
import { authenticityProgram } from './circuit.js';
import { makeOps, RequestError, serve } from './service.js';

setBackend(process.env.O1JS_BACKEND === 'wasm' ? 'wasm' : 'native');

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
};

process.stdout.write(JSON.stringify({ event: 'ready' }) + '\n');
await serve(ops, log);
process.exit(0);
