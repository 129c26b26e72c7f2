// `touchgrass devnet`: a LOCAL DEVELOPMENT Mina network. Not a Mina node: an o1js
// LocalBlockchain (proofs verified) behind the subset of the daemon's GraphQL API that
// touchgrass and o1js use, with a mempool that follows Mina's nonce rules, a block every
// --block-interval seconds, funded keys handed out like Lightnet's account manager, and a
// journal of blocks replayed on restart. Production talks to a real Mina node instead.
//
// How it models the mempool: an accepted command is verified and applied to the ledger at
// once ("optimistically") and reported PENDING until the next block includes it. Account
// queries answer `nonce` as of the last block and `inferredNonce` counting pending
// commands, like the daemon. Dropping a pending command (a test hook) rebuilds the ledger
// from the journal.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Mina, PrivateKey, PublicKey, TokenId, Transaction, Types, setBackend } from 'o1js';

setBackend(process.env.O1JS_BACKEND === 'wasm' ? 'wasm' : 'native');

const args = Object.fromEntries(
  process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=')).map(([k, v]) => [k, v])
);
const port = Number(args.port ?? 8080);
const host = args.host ?? '127.0.0.1';
const blockIntervalMs = Number(args['block-interval'] ?? 5) * 1000;
const stateDir = args['state-dir'];
const fundedCount = Number(args.accounts ?? 20);
const FUNDED_BALANCE = 1_000_000n * 10n ** 9n; // nanomina
if (!stateDir) {
  console.error('--state-dir is required');
  process.exit(2);
}
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

let Local;

async function rebuild() {
  Local = await Mina.LocalBlockchain({ proofsEnabled: true });
  Mina.setActiveInstance(Local);
  for (const { pk } of funded) Local.addAccount(PublicKey.fromBase58(pk), FUNDED_BALANCE.toString());
  // Commands in blocks were verified when they were sent: re-apply without re-proving.
  for (const command of [...blocks.flatMap((block) => block.commands), ...pending]) {
    try {
      Local.applyJsonTransaction(JSON.stringify(command.json));
    } catch (error) {
      // A command that failed when it was sent failed the same way then: its fee payer part
      // (fee, nonce) was applied and the rest was not. Replaying reproduces exactly that.
      if (!command.failure) throw error;
    }
  }
}

function ledgerNonce(publicKey) {
  const key = PublicKey.fromBase58(publicKey);
  return Local.hasAccount(key) ? Number(Local.getAccount(key).nonce.toBigint()) : 0;
}

function accountJson(publicKey, tokenBase58) {
  const key = PublicKey.fromBase58(publicKey);
  const tokenId = tokenBase58 ? TokenId.fromBase58(tokenBase58) : TokenId.default;
  if (!Local.hasAccount(key, tokenId)) return null;
  const account = Types.Account.toJSON(Local.getAccount(key, tokenId));
  const inferred = Number(account.nonce);
  const pendingOfPayer = tokenBase58 && tokenBase58 !== TokenId.toBase58(TokenId.default)
    ? 0 : pending.filter((c) => c.feePayer === publicKey).length;
  const zkapp = account.zkapp;
  const timing = account.timing ?? {};
  return {
    publicKey: account.publicKey,
    token: account.tokenId,
    nonce: String(inferred - pendingOfPayer),
    inferredNonce: String(inferred),
    balance: { total: account.balance },
    tokenSymbol: account.tokenSymbol,
    receiptChainHash: null, // the daemon answers base58 here; nothing we serve needs it
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
    zkappState: zkapp ? zkapp.appState : null,
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
  let transaction;
  let hash;
  try {
    transaction = Transaction.fromJSON(json);
    hash = await Transaction.hash(json);
  } catch (error) {
    throw new Refused(`Couldn't parse zkApp command: ${String(error.message).split('\n')[0]}`);
  }
  const command = transaction.transaction;
  if (pending.some((c) => c.hash === hash) || blocks.some((b) => b.commands.some((c) => c.hash === hash))) {
    throw new Refused("Couldn't send zkApp command: Duplicate");
  }
  const feePayer = command.feePayer.body.publicKey.toBase58();
  const nonce = Number(command.feePayer.body.nonce.toBigint());
  const inferred = ledgerNonce(feePayer);
  const committed = inferred - pending.filter((c) => c.feePayer === feePayer).length;
  if (nonce >= committed && nonce < inferred) {
    // the nonce belongs to a pending command: only a higher fee could replace it
    throw new Refused("Couldn't send zkApp command: Insufficient_replace_fee");
  }
  if (nonce !== inferred) throw new Refused("Couldn't send zkApp command: Invalid_nonce");
  let result;
  try {
    result = await Local.sendTransaction(transaction);
  } catch (error) {
    // proofs and signatures are checked before anything is applied: refused outright
    throw new Refused(`Couldn't send zkApp command: ${classify(error)}`);
  }
  let failure = null;
  if (result.status !== 'pending') {
    if (ledgerNonce(feePayer) === inferred) {
      throw new Refused(`Couldn't send zkApp command: ${classify(result.errors?.[0] ?? 'rejected')}`);
    }
    // As on Mina: the fee payer paid and used its nonce, the account updates failed (a
    // precondition, say). The command is included with a failure reason.
    failure = String(result.errors?.[0] ?? 'failed').split('\n')[0].slice(0, 500);
  }
  const id = Buffer.from(hash).toString('base64');
  pending.push({ id, hash, json, feePayer, nonce, fee: command.feePayer.body.fee.toString(), failure });
  log('mempool', `accepted ${hash} (fee payer nonce ${nonce})${failure ? ' [fails: ' + failure + ']' : ''}`);
  return { id, hash };
}

function classify(error) {
  const text = String(error?.message ?? error);
  if (/proof|verif/i.test(text)) return `Verification_failed: ${text.split('\n')[0].slice(0, 200)}`;
  if (/signature/i.test(text)) return `Verification_failed: invalid signature`;
  if (/balance|insufficient|overflow/i.test(text)) return 'Insufficient_funds';
  if (/nonce/i.test(text)) return 'Invalid_nonce';
  return text.split('\n')[0].slice(0, 300);
}

let paused = false; // test hook: hold block production (POST /devnet/pause)

function produceBlock() {
  const height = (blocks.at(-1)?.height ?? 0) + 1;
  const commands = pending.map(({ id, hash, json, failure }) => ({ id, hash, json, failure }));
  const stateHash = '3N' + crypto.createHash('sha256').update(`${height}:${commands.map((c) => c.hash).join()}`)
    .digest('hex').slice(0, 48);
  appendBlock({ height, stateHash, time: Date.now(), commands });
  if (commands.length) log('block', `block ${height} includes ${commands.length} command(s)`);
  pending = [];
}

async function dropPending(hash) {
  const before = pending.length;
  pending = pending.filter((c) => c.hash !== hash);
  if (pending.length === before) return false;
  await rebuild();
  log('mempool', `dropped ${hash}`);
  return true;
}

// ---------------------------------------------------------------- GraphQL subset

function argument(query, variables, name) {
  const variable = query.match(new RegExp(`${name}\\s*:\\s*\\$(\\w+)`));
  if (variable) return variables?.[variable[1]];
  const literal = query.match(new RegExp(`${name}\\s*:\\s*"([^"]*)"`)) ??
    query.match(new RegExp(`${name}\\s*:\\s*(\\d+)`));
  return literal ? literal[1] : undefined;
}

function status(id) {
  if (pending.some((c) => c.id === id || c.hash === id)) return 'PENDING';
  if (blocks.some((b) => b.commands.some((c) => c.id === id || c.hash === id))) return 'INCLUDED';
  return 'UNKNOWN';
}

function blockJson(block) {
  return {
    stateHash: block.stateHash,
    protocolState: {
      consensusState: { blockHeight: String(block.height), slotSinceGenesis: String(block.height) },
      blockchainState: { utcDate: String(block.time) },
    },
    transactions: {
      zkappCommands: block.commands.map((c) => ({
        hash: c.hash,
        id: c.id,
        failureReason: c.failure ? [{ index: '0', failures: [c.failure] }] : null,
      })),
    },
  };
}

async function graphql({ query = '', variables = {} }) {
  if (/\bsendZkapp\b/.test(query)) {
    const json = variables?.input?.zkappCommand;
    if (!json) return { errors: [{ message: 'sendZkapp expects $input.zkappCommand' }] };
    try {
      return { data: { sendZkapp: { zkapp: await sendZkapp(json) } } };
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      return { data: null, errors: [{ message: error.message, path: ['sendZkapp'] }] };
    }
  }
  const data = {};
  if (/\baccount\s*\(/.test(query)) {
    data.account = accountJson(argument(query, variables, 'publicKey'),
                               argument(query, variables, 'token'));
  }
  if (/\btransactionStatus\s*\(/.test(query)) {
    data.transactionStatus = status(argument(query, variables, 'zkappTransaction'));
  }
  if (/\bbestChain\b/.test(query)) {
    const maxLength = Number(argument(query, variables, 'maxLength') ?? 10);
    data.bestChain = blocks.slice(-maxLength).map(blockJson);
  }
  if (/\bdaemonStatus\b/.test(query)) {
    data.daemonStatus = { blockchainLength: blocks.at(-1)?.height ?? 0, chainId: 'touchgrass-devnet' };
  }
  if (/\bnetworkID\b/.test(query)) data.networkID = 'mina:devnet';
  if (/\bpooledZkappCommands\b/.test(query)) {
    const publicKey = argument(query, variables, 'publicKey');
    data.pooledZkappCommands = pending
      .filter((c) => !publicKey || c.feePayer === publicKey)
      .map((c) => ({ id: c.id, hash: c.hash }));
  }
  if (Object.keys(data).length === 0) {
    return { errors: [{ message: 'touchgrass devnet: this query is not part of the supported subset' }] };
  }
  return { data };
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
      return reply(response, 200, await graphql(await body(request)));
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
  log('start', `devnet at http://${host}:${port}/graphql, height ${blocks.at(-1)?.height ?? 0}, ` +
    `${funded.length} funded keys, a block every ${blockIntervalMs / 1000} s`);
  process.stdout.write(JSON.stringify({ event: 'ready', graphql: `http://${host}:${port}/graphql`,
    height: blocks.at(-1)?.height ?? 0 }) + '\n');
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
