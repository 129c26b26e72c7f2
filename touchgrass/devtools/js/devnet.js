// `touchgrass devnet`: a LOCAL DEVELOPMENT Mina network. Not a Mina node: an o1js
// LocalBlockchain (proofs verified) behind the daemon's own GraphQL types (daemon.graphql,
// served through the `graphql` reference implementation, so selection sets, unknown fields,
// arguments and non-null are enforced as a node does), with a mempool that follows Mina's
// nonce rules, a block every --block-interval seconds, funded keys handed out like
// Lightnet's account manager, and a journal of blocks replayed on restart. Production talks
// to a real Mina node instead; README "The devnet and a real node" lists what still differs.
//
// How it models the chain (mina-daemon.md): two ledgers. `Local` takes each accepted command
// at once, so the next one is checked (proof, signature, nonce, balance) against everything
// before it; `Tip` is the best tip's ledger, which `account` answers from: a pending command
// changes nothing there until a block includes it. `inferredNonce` counts the fee payer's
// pending commands. `zkapp.id` is an opaque base64 encoding of the whole command (long, like
// the daemon's), and `transactionStatus` takes only such an id. A block is INCLUDED only while
// it is in the frontier (--frontier blocks, the daemon's k = 290). For --unsynced-s seconds
// after start the node says BOOTSTRAP: `account` and `bestChain` are null.
//
// The daemon's own rules it keeps (docs/chain.md "Conformance", each held by a test): a variable
// an operation uses but the request leaves out is HTTP 400 "Missing variable" (the daemon's
// GraphQL library, ocaml-graphql-server 0.13.0, has no "missing means null"); an answer with
// errors and no data is HTTP 400; `version` is a 40-hex commit id; `networkID`, `chainId` and
// the era's consensus constants are settable (--network-id, --chain-id, --era); sends are
// refused with the daemon's words while not synced; a pending command can be kept out of
// blocks (POST /devnet/hold) and the last blocks replaced (POST /devnet/reorg).
//
// At /archive it also serves what an archive node's GraphQL API (Archive-Node-API,
// archive.graphql) answers for zkApp actions and events, as its resolvers do: without from/to
// only the last --archive-window blocks (10,000 there), a wider range an error, `to`
// exclusive, an unknown fromActionState an error, accountUpdateId the id of the account
// update's body (identical bodies share one), ActionOutput.transactionInfo unfilled, and the
// archive --archive-lag blocks behind the node. A block is "canonical" once --frontier blocks
// deep, "pending" before; failed commands left none.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Kind, buildSchema, graphql as execute, parse, visit } from 'graphql';
import {
  AccountUpdate, Field, Mina, PrivateKey, PublicKey, TokenId, Transaction, Types, setBackend,
} from 'o1js';

// o1js keeps its base58check encoders for chain hashes internal; its package exports no path
// to them, so they are imported by file from the installed package (o1js 2.15 layout).
const { StateHash, LedgerHash, EpochSeed, ReceiptChainHash } = await import(
  new URL('./lib/mina/v1/base58-encodings.js', import.meta.resolve('o1js')));

setBackend(process.env.O1JS_BACKEND === 'wasm' ? 'wasm' : 'native');

const args = Object.fromEntries(
  process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=')).map(([k, v]) => [k, v])
);
const port = Number(args.port ?? 8080);
const host = args.host ?? '127.0.0.1';
const blockIntervalMs = Number(args['block-interval'] ?? 5) * 1000;
const stateDir = args['state-dir'];
const fundedCount = Number(args.accounts ?? 20);
const frontier = Number(args.frontier ?? 290); // the daemon's k: blocks bestChain knows
const unsyncedFor = Number(args['unsynced-s'] ?? 0) * 1000;
let unsyncedUntil = Infinity; // set when the server starts serving
// What a daemon answers: `version` is its git commit id; networkID `mina:<ledger name>`;
// chainId a 64-hex digest that changes at every hard fork.
const daemonVersion = args['daemon-version'] ?? '5f20bd0b8a7a69e7b1da9c0a53c2f6cf1c1a1b91';
const networkId = args['network-id'] ?? 'mina:devnet';
const chainId = args['chain-id'] ??
  crypto.createHash('sha256').update(`touchgrass-devnet:${networkId}`).digest('hex');
// The era shows in the consensus constants: 180 s slots before Mesa, 90 s on Mesa (whose
// zkApp state also has 32 fields instead of 8).
const era = args.era ?? 'berkeley';
if (!['berkeley', 'mesa'].includes(era)) {
  console.error('--era is berkeley or mesa');
  process.exit(2);
}
const slotDurationMs = era === 'mesa' ? 90_000 : 180_000;
const zkappStateLength = era === 'mesa' ? 32 : 8;
const archiveWindow = Number(args['archive-window'] ?? 10000); // Archive-Node-API BLOCK_RANGE_SIZE
const archiveLag = Number(args['archive-lag'] ?? 0); // blocks the archive is behind the node
const schemaFile = args.schema;
const archiveSchemaFile = args['archive-schema'];
const FUNDED_BALANCE = 1_000_000n * 10n ** 9n; // nanomina
if (!stateDir || !schemaFile || !archiveSchemaFile) {
  console.error('--state-dir, --schema and --archive-schema are required');
  process.exit(2);
}
const schema = buildSchema(fs.readFileSync(schemaFile, 'utf8'));
const archiveSchema = buildSchema(fs.readFileSync(archiveSchemaFile, 'utf8'));
const genesisTime = Date.now();
fs.mkdirSync(stateDir, { recursive: true });

function log(action, message) {
  process.stderr.write(JSON.stringify({ level: 'info', action, message }) + '\n');
}

// ---------------------------------------------------------------- persistent state

const keysFile = path.join(stateDir, 'funded-keys.json');
const journalFile = path.join(stateDir, 'blocks.jsonl');
const acquiredFile = path.join(stateDir, 'acquired.json');

const funded = fs.existsSync(keysFile)
  ? JSON.parse(fs.readFileSync(keysFile, 'utf8'))
  : Array.from({ length: fundedCount }, () => {
      const key = PrivateKey.random();
      return { pk: key.toPublicKey().toBase58(), sk: key.toBase58() };
    });
fs.writeFileSync(keysFile, JSON.stringify(funded, null, 1), { mode: 0o600 });
let acquired = new Set(fs.existsSync(acquiredFile) ? JSON.parse(fs.readFileSync(acquiredFile)) : []);

const blocks = fs.existsSync(journalFile)
  ? fs.readFileSync(journalFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line))
  : [];
let pending = []; // [{id, hash, json, feePayer, nonce, fee}]

function appendBlock(block) {
  const fd = fs.openSync(journalFile, 'a');
  fs.writeSync(fd, JSON.stringify(block) + '\n');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  blocks.push(block);
}

// ---------------------------------------------------------------- the ledger

let Local; // every accepted command applied: what the next send is checked against
let Tip; // only commands in blocks: what `account` answers

function newLedger() {
  return Mina.LocalBlockchain({ proofsEnabled: true });
}

function replay(ledger, commands) {
  for (const command of commands) {
    try {
      ledger.applyJsonTransaction(JSON.stringify(command.json));
    } catch (error) {
      // A command that failed when it was sent failed the same way then: its fee payer part
      // (fee, nonce) was applied and the rest was not. Replaying reproduces exactly that.
      if (!command.failure) throw error;
    }
  }
}

async function rebuild() {
  [Local, Tip] = [await newLedger(), await newLedger()];
  Mina.setActiveInstance(Local);
  for (const ledger of [Local, Tip]) {
    for (const { pk } of funded) ledger.addAccount(PublicKey.fromBase58(pk), FUNDED_BALANCE.toString());
  }
  // Commands in blocks were verified when they were sent: re-applied without re-proving.
  const included = blocks.flatMap((block) => block.commands);
  replay(Tip, included);
  replay(Local, [...included, ...pending]);
}

function nonceIn(ledger, publicKey) {
  const key = PublicKey.fromBase58(publicKey);
  return ledger.hasAccount(key) ? Number(ledger.getAccount(key).nonce.toBigint()) : 0;
}

function synced() {
  return Date.now() >= unsyncedUntil;
}

function accountJson(publicKey, tokenBase58) {
  const key = PublicKey.fromBase58(publicKey);
  const tokenId = tokenBase58 ? TokenId.fromBase58(tokenBase58) : TokenId.default;
  if (!Tip.hasAccount(key, tokenId)) return null;
  const account = Types.Account.toJSON(Tip.getAccount(key, tokenId));
  const defaultToken = !tokenBase58 || tokenBase58 === TokenId.toBase58(TokenId.default);
  const pendingOfPayer = defaultToken ? pending.filter((c) => c.feePayer === publicKey).length : 0;
  const zkapp = account.zkapp;
  const timing = account.timing ?? {};
  return {
    publicKey: account.publicKey,
    token: account.tokenId,
    tokenId: account.tokenId,
    nonce: account.nonce,
    inferredNonce: String(Number(account.nonce) + pendingOfPayer),
    balance: { total: account.balance, liquid: null, locked: null },
    tokenSymbol: account.tokenSymbol,
    receiptChainHash: ReceiptChainHash.toBase58(Field(account.receiptChainHash)), // base58, as the daemon
    timing: {
      cliffAmount: timing.isTimed ? timing.cliffAmount : null,
      cliffTime: timing.isTimed ? timing.cliffTime : null,
      initialMinimumBalance: timing.isTimed ? timing.initialMinimumBalance : null,
      vestingIncrement: timing.isTimed ? timing.vestingIncrement : null,
      vestingPeriod: timing.isTimed ? timing.vestingPeriod : null,
    },
    delegateAccount: account.delegate ? { publicKey: account.delegate } : null,
    votingFor: null,
    permissions: account.permissions,
    zkappState: zkapp ? [...zkapp.appState, ...Array(zkappStateLength - zkapp.appState.length).fill('0')] : null,
    verificationKey: zkapp?.verificationKey
      ? { verificationKey: zkapp.verificationKey.data, hash: zkapp.verificationKey.hash }
      : null,
    actionState: zkapp ? zkapp.actionState : null,
    provedState: zkapp ? zkapp.provedState : false,
    zkappUri: zkapp ? zkapp.zkappUri : null,
  };
}

// ---------------------------------------------------------------- the mempool

class Refused extends Error {}

async function sendZkapp(json) {
  // the resolver's own words while the node has no best tip to apply commands to
  if (!synced()) throw new Refused('Daemon is bootstrapping');
  let transaction;
  let hash;
  try {
    transaction = Transaction.fromJSON(json);
    hash = await Transaction.hash(json);
  } catch (error) {
    throw new Refused(`Couldn't parse zkApp command: ${String(error.message).split('\n')[0]}`);
  }
  const command = transaction.transaction;
  // Duplicate is for a command still in the pool; one already in a block fails on its nonce.
  if (pending.some((c) => c.hash === hash)) throw new Refused(refusal('Duplicate'));
  const feePayer = command.feePayer.body.publicKey.toBase58();
  const nonce = Number(command.feePayer.body.nonce.toBigint());
  const inferred = nonceIn(Local, feePayer);
  const committed = nonceIn(Tip, feePayer);
  if (nonce >= committed && nonce < inferred) {
    // the nonce belongs to a pending command: only a higher fee could replace it
    throw new Refused(refusal('Insufficient_replace_fee'));
  }
  if (nonce !== inferred) throw new Refused(refusal('Invalid_nonce'));
  let result;
  try {
    result = await Local.sendTransaction(transaction);
  } catch (error) {
    // proofs and signatures are checked before anything is applied: refused outright
    throw new Refused(`Couldn't send zkApp command: ${classify(error)}`);
  }
  let failure = null;
  if (result.status !== 'pending') {
    if (nonceIn(Local, feePayer) === inferred) {
      throw new Refused(`Couldn't send zkApp command: ${classify(result.errors?.[0] ?? 'rejected')}`);
    }
    // As on Mina: the fee payer paid and used its nonce, the account updates failed (a
    // precondition, say). The command is included with a failure reason.
    failure = String(result.errors?.[0] ?? 'failed').split('\n')[0].slice(0, 500);
  }
  const entry = { hash, json, feePayer, nonce, fee: command.feePayer.body.fee.toString(), failure };
  pending.push(entry);
  log('mempool', `accepted ${hash} (fee payer nonce ${nonce})${failure ? ' [fails: ' + failure + ']' : ''}`);
  return entry;
}

// The daemon's wording for mempool refusals (mina-daemon.md).
function refusal(reason) {
  return `Couldn't send zkApp command: ["${reason}"]`;
}

function classify(error) {
  const text = String(error?.message ?? error);
  if (/proof|verif/i.test(text)) return `Verification_failed: ${text.split('\n')[0].slice(0, 200)}`;
  if (/signature/i.test(text)) return `(Verification_failed (Invalid_signature ${text.split('\n')[0].slice(0, 120)}))`;
  if (/balance|insufficient|overflow/i.test(text)) return 'Insufficient_funds';
  if (/nonce/i.test(text)) return 'Invalid_nonce';
  return text.split('\n')[0].slice(0, 300);
}

let paused = false; // test hook: hold block production (POST /devnet/pause)
const held = new Map(); // test hook: command hash -> blocks it stays out of (POST /devnet/hold)
let forks = 0; // how many reorgs replaced blocks: part of every later block's state hash

function field(text) {
  return Field(BigInt('0x' + crypto.createHash('sha256').update(text).digest('hex')) % Field.ORDER);
}

// A block takes the pending commands in nonce order, up to the first held one of each fee
// payer (a later nonce cannot go before it).
function produceBlock() {
  const height = (blocks.at(-1)?.height ?? 0) + 1;
  const blocked = new Set();
  const taken = [];
  const kept = [];
  for (const command of pending) {
    const wait = held.get(command.hash) ?? 0;
    if (wait > 0 || blocked.has(command.feePayer)) {
      blocked.add(command.feePayer);
      kept.push(command);
    } else {
      taken.push(command);
    }
  }
  for (const [hash, wait] of held) wait <= 1 ? held.delete(hash) : held.set(hash, wait - 1);
  const commands = taken.map(({ hash, json, failure }) => ({ hash, json, failure }));
  const stateHash = StateHash.toBase58(field(`${forks}:${height}:${commands.map((c) => c.hash).join()}`));
  replay(Tip, commands);
  appendBlock({ height, stateHash, time: Date.now(), commands });
  if (commands.length) log('block', `block ${height} includes ${commands.length} command(s)`);
  pending = kept;
}

// A reorg: the last `depth` blocks leave the best chain; their commands go back to the
// mempool (before the pending ones: lower nonces), and as many new blocks are made, except
// that commands in `keepOut` stay in the mempool for `keepOutBlocks` blocks.
async function reorg(depth, keepOut = [], keepOutBlocks = 1) {
  const replaced = blocks.splice(blocks.length - depth, depth);
  const back = replaced.flatMap((block) => block.commands).map((c) => ({
    ...c, feePayer: c.json.feePayer.body.publicKey, nonce: Number(c.json.feePayer.body.nonce),
  }));
  fs.writeFileSync(journalFile, blocks.map((b) => JSON.stringify(b) + '\n').join(''));
  pending = [...back, ...pending];
  for (const hash of keepOut) held.set(hash, keepOutBlocks);
  forks += 1;
  await rebuild();
  for (let i = 0; i < depth; i++) produceBlock();
  log('reorg', `replaced the last ${depth} block(s); ${back.length} command(s) went back to the mempool`);
}

async function dropPending(hash) {
  const before = pending.length;
  pending = pending.filter((c) => c.hash !== hash);
  if (pending.length === before) return false;
  await rebuild();
  log('mempool', `dropped ${hash}`);
  return true;
}

// ---------------------------------------------------------------- GraphQL

// `zkapp.id`: like the daemon's, an opaque encoding of the whole command (base64; the daemon
// encodes its binary form, we encode the JSON). Computed on demand, never journaled.
function commandId(json) {
  return Buffer.from(JSON.stringify(json)).toString('base64');
}

function commandFromId(id) {
  try {
    const json = JSON.parse(Buffer.from(String(id), 'base64').toString('utf8'));
    if (json && typeof json === 'object' && json.feePayer && Array.isArray(json.accountUpdates)) return json;
  } catch {}
  throw new Error(`Invalid transaction provided: ${String(id).slice(0, 60)} is not a serialized zkApp command`);
}

function commandResult(c) {
  return {
    id: () => commandId(c.json),
    hash: c.hash,
    zkappCommand: {
      feePayer: { body: c.json.feePayer.body },
      accountUpdates: c.json.accountUpdates.map((u) => ({ body: u.body })),
      memo: c.json.memo,
    },
    failureReason: c.failure ? [{ index: '0', failures: [c.failure] }] : null,
  };
}

function inFrontier() {
  return blocks.slice(-frontier);
}

function epochData(block) {
  return {
    ledger: { hash: LedgerHash.toBase58(field('epoch-ledger')), totalCurrency: '0' },
    seed: EpochSeed.toBase58(field('seed')),
    startCheckpoint: StateHash.toBase58(field('start')),
    lockCheckpoint: StateHash.toBase58(field('lock')),
    epochLength: String(block.height),
  };
}

function blockJson(block, index, all) {
  const previous = all[index - 1]?.stateHash ?? StateHash.toBase58(field('genesis'));
  const height = String(block.height);
  return {
    stateHash: block.stateHash,
    commandTransactionCount: block.commands.length,
    protocolState: {
      previousStateHash: previous,
      blockchainState: {
        date: String(block.time), utcDate: String(block.time),
        snarkedLedgerHash: LedgerHash.toBase58(field(`snarked:${height}`)),
        stagedLedgerHash: LedgerHash.toBase58(field(`staged:${height}`)),
        stagedLedgerProofEmitted: false,
      },
      consensusState: {
        blockHeight: height, blockchainLength: height, slotSinceGenesis: height, slot: height,
        epoch: '0', epochCount: '0', minWindowDensity: '0', totalCurrency: '0',
        nextEpochData: epochData(block), stakingEpochData: epochData(block),
      },
    },
    transactions: { zkappCommands: block.commands.map(commandResult) },
  };
}

const INT32_MAX = 2 ** 31 - 1;

const root = {
  account: ({ publicKey, token }) => (synced() ? accountJson(publicKey, token) : null),
  syncStatus: () => (synced() ? 'SYNCED' : 'BOOTSTRAP'),
  daemonStatus: () => ({
    syncStatus: synced() ? 'SYNCED' : 'BOOTSTRAP',
    blockchainLength: blocks.at(-1)?.height ?? 0,
    chainId,
    commitId: daemonVersion,
    // Int! in the daemon's schema (32-bit): a devnet whose blocks are made by hand (a huge
    // --block-interval) would overflow it, and the daemon never sends more than fits.
    // the era's constants, whatever --block-interval makes blocks at (a local network's
    // pace is not a protocol constant); Int! in the daemon's schema (32-bit)
    consensusConfiguration: {
      delta: 0, k: frontier, slotsPerEpoch: 7140, slotDuration: slotDurationMs,
      epochDuration: Math.min(7140 * slotDurationMs, INT32_MAX), acceptableNetworkDelay: 180000,
    },
  }),
  version: () => daemonVersion,
  networkID: () => networkId,
  genesisConstants: () => ({
    accountCreationFee: '1000000000', coinbase: '720000000000',
    genesisTimestamp: new Date(genesisTime).toISOString(),
  }),
  bestChain: ({ maxLength }) => {
    if (!synced()) return null;
    const known = inFrontier();
    const chosen = maxLength == null ? known : known.slice(-Math.max(0, maxLength));
    const offset = blocks.length - chosen.length;
    return chosen.map((block, i) => blockJson(block, offset + i, blocks));
  },
  pooledZkappCommands: ({ publicKey, hashes, ids }) => {
    const wanted = ids ? new Set(ids) : null;
    return pending
      .filter((c) => !publicKey || c.feePayer === publicKey)
      .filter((c) => !hashes || hashes.includes(c.hash))
      .filter((c) => !wanted || wanted.has(commandId(c.json)))
      .map(commandResult);
  },
  transactionStatus: async ({ payment, zkappTransaction }) => {
    if (payment != null) throw new Error('touchgrass devnet: payments are not supported');
    if (zkappTransaction == null) throw new Error('Invalid query: provide payment or zkappTransaction');
    const hash = await Transaction.hash(commandFromId(zkappTransaction));
    if (pending.some((c) => c.hash === hash)) return 'PENDING';
    if (inFrontier().some((b) => b.commands.some((c) => c.hash === hash))) return 'INCLUDED';
    return 'UNKNOWN'; // dropped, or final and out of the frontier: the daemon cannot tell
  },
  sendZkapp: async ({ input }) => {
    try {
      return { zkapp: commandResult(await sendZkapp(input.zkappCommand)) };
    } catch (error) {
      if (error instanceof Refused) throw new Error(error.message);
      throw error;
    }
  },
};

// ---------------------------------------------------------------- the archive

const DEFAULT_TOKEN = TokenId.toBase58(TokenId.default);
const { Actions } = AccountUpdate;

// What the archive has: every block up to --archive-lag blocks behind the node's tip.
function archived() {
  return archiveLag > 0 ? blocks.slice(0, Math.max(0, blocks.length - archiveLag)) : blocks;
}

function blockInfo(block, index) {
  const tip = archived().at(-1)?.height ?? 0;
  const distance = tip - block.height;
  return {
    height: block.height, stateHash: block.stateHash,
    parentHash: blocks[index - 1]?.stateHash ?? StateHash.toBase58(field('genesis')),
    ledgerHash: LedgerHash.toBase58(field(`staged:${block.height}`)),
    chainStatus: distance >= frontier ? 'canonical' : 'pending',
    timestamp: String(block.time),
    globalSlotSinceHardfork: block.height, globalSlotSinceGenesis: block.height,
    distanceFromMaxBlockHeight: distance,
  };
}

function authorizationKind(update) {
  const kind = update.body.authorizationKind ?? {};
  return kind.isProved ? 'Proof' : kind.isSigned ? 'Signature' : 'None_given';
}

// Every applied account update of this account, block by block, with what `pick` takes from
// it (its actions or its events), in chain order; archive ids are made up but stable.
function perBlock(address, tokenId, pick) {
  const token = tokenId ?? DEFAULT_TOKEN;
  const found = [];
  archived().forEach((block, index) => {
    const updates = [];
    block.commands.forEach((command, sequenceNumber) => {
      if (command.failure) return; // a failed command's account updates were not applied
      const all = command.json.accountUpdates;
      // the archive's id of an account update is its de-duplicated body's: equal bodies, one id
      const ids = all.map((update) => bodyId(update.body));
      all.forEach((update, i) => {
        const items = pick(update.body) ?? [];
        if (update.body.publicKey !== address || update.body.tokenId !== token || !items.length) return;
        const transactionInfo = {
          status: 'applied', hash: command.hash, memo: command.json.memo,
          authorizationKind: authorizationKind(update), sequenceNumber, zkappAccountUpdateIds: ids,
        };
        updates.push({ id: String(ids[i]), items, transactionInfo });
      });
    });
    if (updates.length) found.push({ block, index, updates });
  });
  return found;
}

const bodyIds = new Map(); // account update body (JSON) -> the archive's id for it
function bodyId(body) {
  const key = JSON.stringify(body);
  if (!bodyIds.has(key)) bodyIds.set(key, bodyIds.size + 1);
  return bodyIds.get(key);
}

// Archive-Node-API's block range: `from` inclusive, `to` exclusive; `from` alone reads
// --archive-window blocks from it, `to` alone the window before it, neither the window
// before the archive's tip; `to - from` wider than the window is an error. (A `from` of 0
// counts as not given there, as here.)
function blockRange({ from, to }) {
  if (to != null && from && to < from) throw new Error('to must be greater than from');
  if (to != null && from && to - from > archiveWindow) {
    throw new Error(`The block range is too large. The maximum range is ${archiveWindow}`);
  }
  if (from) return [from, to != null ? Math.min(to, from + archiveWindow) : from + archiveWindow];
  if (to != null) return [to - archiveWindow, to];
  const tip = archived().at(-1)?.height ?? 0;
  return [tip - archiveWindow, Infinity];
}

function inRange(found, input) {
  const [low, high] = blockRange(input);
  const { status } = input;
  return found.filter(({ block, index }) =>
    block.height >= low && block.height < high &&
    (status == null || status === 'ALL' || blockInfo(block, index).chainStatus === status.toLowerCase()));
}

const archiveRoot = {
  actions: ({ input }) => {
    let state = Actions.emptyActionState();
    let outputs = perBlock(input.address, input.tokenId, (body) => body.actions).map(({ block, index, updates }) => {
      const before = state;
      for (const { items } of updates) {
        state = Actions.updateSequenceState(state, Actions.hash(items.map((a) => a.map(Field))));
      }
      return {
        block, index,
        output: {
          blockInfo: blockInfo(block, index),
          transactionInfo: null, // not filled by the real resolver
          actionData: updates.flatMap(({ id, items, transactionInfo }) =>
            items.map((data) => ({ accountUpdateId: id, transactionInfo, data }))),
          actionState: { actionStateOne: state.toString(), actionStateTwo: before.toString() },
        },
      };
    });
    // an action state the archive never recorded is an error, not an empty answer
    const known = (state) => state === Actions.emptyActionState().toString() ||
      outputs.some((o) => o.output.actionState.actionStateOne === state);
    for (const name of ['fromActionState', 'endActionState']) {
      if (input[name] != null && !known(input[name])) throw new Error(`${name} ${input[name]} does not exist`);
    }
    if (input.fromActionState != null) {
      const start = outputs.findIndex((o) => o.output.actionState.actionStateTwo === input.fromActionState);
      outputs = start < 0 ? [] : outputs.slice(start);
    }
    if (input.endActionState != null) {
      const end = outputs.findIndex((o) => o.output.actionState.actionStateOne === input.endActionState);
      outputs = end < 0 ? [] : outputs.slice(0, end + 1);
    }
    return inRange(outputs, input).map((o) => o.output);
  },
  events: ({ input }) =>
    inRange(perBlock(input.address, input.tokenId, (body) => body.events), input).map(({ block, index, updates }) => ({
      blockInfo: blockInfo(block, index),
      eventData: updates.flatMap(({ id, items, transactionInfo }) =>
        items.map((data) => ({ accountUpdateId: id, transactionInfo, data }))),
    })),
  networkState: () => {
    const tip = archived().at(-1)?.height ?? 0;
    return { maxBlockHeight: { canonicalMaxBlockHeight: Math.max(0, tip - frontier), pendingMaxBlockHeight: tip } };
  },
};

// Variables the operation uses in an argument that the request leaves out. The daemon's
// GraphQL library refuses each ("Missing variable `name`"); graphql-js would read null.
function missingVariables(query, variables) {
  let document;
  try {
    document = parse(query);
  } catch {
    return []; // a syntax error is graphql-js's to answer
  }
  const used = new Set();
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    visit(definition, {
      VariableDefinition: () => false, // a declaration is not a use
      Variable: (node) => { used.add(node.name.value); },
    });
  }
  return [...used].filter((name) => !(variables && Object.hasOwn(variables, name)));
}

async function graphql({ query, variables, operationName }, served = schema, rootValue = root) {
  if (typeof query !== 'string') return { errors: [{ message: 'Must provide query string.' }] };
  const result = await execute({ schema: served, source: query, rootValue,
                                 variableValues: variables ?? undefined, operationName });
  for (const error of result.errors ?? []) {
    if (error.originalError && !/^Couldn't|^Invalid/.test(error.message)) {
      log('graphql', `resolver error: ${error.originalError.stack ?? error.message}`);
    }
  }
  return result;
}

// ---------------------------------------------------------------- HTTP

async function body(request) {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function reply(response, code, value) {
  response.writeHead(code, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(value));
}

const server = http.createServer(async (request, response) => {
  try {
    const url = new URL(request.url, `http://${host}`);
    if (url.pathname === '/graphql' && request.method === 'POST') {
      const asked = await body(request);
      const missing = typeof asked.query === 'string' ? missingVariables(asked.query, asked.variables) : [];
      if (missing.length) {
        return reply(response, 400, { errors: [{ message: `Missing variable \`${missing[0]}\`` }], data: null });
      }
      const result = await graphql(asked);
      // the daemon's HTTP layer: 400 for an answer without data (an argument or validation
      // error, a failed non-null field such as sendZkapp's), 200 otherwise
      return reply(response, result.errors?.length && result.data == null ? 400 : 200, result);
    }
    if (url.pathname === '/archive' && request.method === 'POST') {
      return reply(response, 200, await graphql(await body(request), archiveSchema, archiveRoot));
    }
    if (url.pathname === '/acquire-account') {
      const free = funded.find((k) => !acquired.has(k.pk));
      if (!free) return reply(response, 503, { error: 'no funded account left' });
      acquired.add(free.pk);
      fs.writeFileSync(acquiredFile, JSON.stringify([...acquired]));
      return reply(response, 200, free);
    }
    if (url.pathname === '/release-account' && request.method === 'PUT') {
      const { pk } = await body(request);
      acquired.delete(pk);
      fs.writeFileSync(acquiredFile, JSON.stringify([...acquired]));
      return reply(response, 200, { pk });
    }
    if (url.pathname === '/devnet/drop' && request.method === 'POST') {
      const { hash } = await body(request);
      return reply(response, (await dropPending(hash)) ? 200 : 404, { hash });
    }
    if (url.pathname === '/devnet/pause' && request.method === 'POST') {
      paused = Boolean((await body(request)).paused);
      return reply(response, 200, { paused });
    }
    if (url.pathname === '/devnet/hold' && request.method === 'POST') {
      const { hash, blocks: count } = await body(request);
      held.set(hash, Number(count ?? 1));
      return reply(response, 200, { hash, blocks: held.get(hash) });
    }
    if (url.pathname === '/devnet/reorg' && request.method === 'POST') {
      const { depth, keepOut, keepOutBlocks } = await body(request);
      if (!(depth >= 1 && depth <= blocks.length)) return reply(response, 400, { error: 'depth out of range' });
      await reorg(Number(depth), keepOut ?? [], Number(keepOutBlocks ?? 1));
      return reply(response, 200, { height: blocks.at(-1).height, stateHash: blocks.at(-1).stateHash });
    }
    if (url.pathname === '/devnet/block' && request.method === 'POST') {
      produceBlock();
      return reply(response, 200, { height: blocks.at(-1).height });
    }
    if (url.pathname === '/health') {
      return reply(response, 200, { status: 'ok', height: blocks.at(-1)?.height ?? 0, pending: pending.length });
    }
    reply(response, 404, { error: `no route ${request.method} ${url.pathname}` });
  } catch (error) {
    log('error', error.stack ?? String(error));
    reply(response, 500, { errors: [{ message: `internal error: ${String(error.message).split('\n')[0]}` }] });
  }
});

// ---------------------------------------------------------------- start and stop

await rebuild();
const ticker = setInterval(() => { if (!paused) produceBlock(); }, blockIntervalMs);
server.listen(port, host, () => {
  unsyncedUntil = Date.now() + unsyncedFor; // the start-up period counts from serving
  log('start', `devnet at http://${host}:${port}/graphql, height ${blocks.at(-1)?.height ?? 0}, ` +
    `${funded.length} funded keys, a block every ${blockIntervalMs / 1000} s`);
  process.stdout.write(JSON.stringify({ event: 'ready', graphql: `http://${host}:${port}/graphql`,
    archive: `http://${host}:${port}/archive`, height: blocks.at(-1)?.height ?? 0 }) + '\n');
});

function stop(signal) {
  log('stop', `${signal}: stopping (pending commands are not kept, like a node's mempool)`);
  clearInterval(ticker);
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
// Never outlive the process that started us.
const parentPid = process.ppid;
setInterval(() => { if (process.ppid !== parentPid) stop('parent exited'); }, 1000).unref();
