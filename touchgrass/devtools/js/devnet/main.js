// @ts-check
// `touchgrass devnet`: a LOCAL DEVELOPMENT Mina network. Not a Mina node: an o1js
// LocalBlockchain (proofs verified) behind the daemon's own GraphQL types (daemon.graphql,
// served through the `graphql` reference implementation, so selection sets, unknown fields,
// arguments and non-null are enforced as a node does), with a mempool that follows Mina's
// nonce rules, a block every --block-interval seconds, funded keys handed out like
// Lightnet's account manager, and a journal of blocks replayed on restart. Production talks
// to a real Mina node instead; docs/chain.md lists what still differs.
//
// The parts: chain.js (ledgers, mempool, blocks, journal), daemon.js (the daemon's GraphQL and
// its rules), archive.js (Archive-Node-API's actions and events); this file reads the
// options and serves them over HTTP, with the test hooks under /devnet/. For --unsynced-s
// seconds after start the node says BOOTSTRAP: `account` and `bestChain` are null and sends
// are refused.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { buildSchema, graphql as execute } from 'graphql';
import { setBackend } from 'o1js';
import { archiveRoot } from './archive.js';
import { Chain } from './chain.js';
import { daemonRoot, missingVariables } from './daemon.js';

setBackend(process.env.O1JS_BACKEND === 'wasm' ? 'wasm' : 'native');

/** @type {Record<string, string>} */
const args = Object.fromEntries(
  process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=')).map(([k, v]) => [k, v])
);

/** @param {string} message */
function usage(message) {
  console.error(message);
  process.exit(2);
}

const port = Number(args.port ?? 8080);
const host = args.host ?? '127.0.0.1';
const blockIntervalMs = Number(args['block-interval'] ?? 5) * 1000;
const stateDir = args['state-dir'];
const unsyncedFor = Number(args['unsynced-s'] ?? 0) * 1000;
if (!stateDir || !args.schema || !args['archive-schema']) {
  usage('--state-dir, --schema and --archive-schema are required');
}
// The era shows in the consensus constants: 180 s slots before Mesa, 90 s on Mesa (whose
// zkApp state also has 32 fields instead of 8).
const era = args.era ?? 'berkeley';
if (!['berkeley', 'mesa'].includes(era)) usage('--era is berkeley or mesa');
const frontier = Number(args.frontier ?? 290); // the daemon's k: blocks bestChain knows
// What a daemon answers: `version` is its git commit id; networkID `mina:<ledger name>`;
// chainId a 64-hex digest that changes at every hard fork.
const networkId = args['network-id'] ?? 'mina:devnet';

/** @param {string} action @param {string} message */
function log(action, message) {
  process.stderr.write(JSON.stringify({ level: 'info', action, message }) + '\n');
}

/** @param {http.IncomingMessage} request */
async function body(request) {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

/** @param {http.ServerResponse} response @param {number} code @param {unknown} value */
function reply(response, code, value) {
  response.writeHead(code, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(value));
}

// Answers a daemon or an archive gives on purpose (refusals, range errors): not logged.
const EXPECTED = /^Couldn't|^Invalid|^Daemon|^The block range|^to must be|does not exist$/;

/** Build the chain and its two GraphQL services, serve them, and stop on a signal. */
async function main() {
  // The process's state: paused (a test hook: hold block production, POST /devnet/pause) and
  // the end of the start-up period in which the node says BOOTSTRAP.
  const state = { paused: false, unsyncedUntil: Infinity };
  const synced = () => Date.now() >= state.unsyncedUntil;

  const chain = new Chain({
    stateDir, accounts: Number(args.accounts ?? 20), fundedBalance: 1_000_000n * 10n ** 9n, log,
  });
  const daemon = {
    schema: buildSchema(fs.readFileSync(args.schema, 'utf8')),
    root: daemonRoot(chain, {
      frontier, networkId, synced, genesisTime: Date.now(),
      daemonVersion: args['daemon-version'] ?? '5f20bd0b8a7a69e7b1da9c0a53c2f6cf1c1a1b91',
      chainId: args['chain-id'] ?? crypto.createHash('sha256').update(`touchgrass-devnet:${networkId}`).digest('hex'),
      slotDurationMs: era === 'mesa' ? 90_000 : 180_000,
      zkappStateLength: era === 'mesa' ? 32 : 8,
    }),
  };
  const archive = {
    schema: buildSchema(fs.readFileSync(args['archive-schema'], 'utf8')),
    root: archiveRoot(chain, {
      frontier,
      window: Number(args['archive-window'] ?? 10000), // Archive-Node-API's BLOCK_RANGE_SIZE
      lag: Number(args['archive-lag'] ?? 0), // blocks the archive is behind the node
    }),
  };

  /**
   * One GraphQL request against `served`.
   * @param {any} request @param {{ schema: any, root: Record<string, unknown> }} served
   */
  async function graphql({ query, variables, operationName }, served) {
    if (typeof query !== 'string') return { errors: [{ message: 'Must provide query string.' }] };
    const result = await execute({ schema: served.schema, source: query, rootValue: served.root,
                                   variableValues: variables ?? undefined, operationName });
    for (const error of result.errors ?? []) {
      if (error.originalError && !EXPECTED.test(error.message)) {
        log('graphql', `resolver error: ${error.originalError.stack ?? error.message}`);
      }
    }
    return result;
  }

  const server = http.createServer(async (request, response) => {
    try {
      const url = new URL(request.url ?? '/', `http://${host}`);
      if (url.pathname === '/graphql' && request.method === 'POST') {
        const asked = await body(request);
        const missing = typeof asked.query === 'string' ? missingVariables(asked.query, asked.variables) : [];
        if (missing.length) {
          return reply(response, 400, { errors: [{ message: `Missing variable \`${missing[0]}\`` }], data: null });
        }
        const result = await graphql(asked, daemon);
        // the daemon's HTTP layer: 400 for an answer without data (an argument or validation
        // error, a failed non-null field such as sendZkapp's), 200 otherwise
        return reply(response, result.errors?.length && !('data' in result && result.data) ? 400 : 200, result);
      }
      if (url.pathname === '/archive' && request.method === 'POST') {
        return reply(response, 200, await graphql(await body(request), archive));
      }
      if (url.pathname === '/acquire-account') {
        const free = chain.acquire();
        return free ? reply(response, 200, free) : reply(response, 503, { error: 'no funded account left' });
      }
      if (url.pathname === '/release-account' && request.method === 'PUT') {
        const { pk } = await body(request);
        chain.release(pk);
        return reply(response, 200, { pk });
      }
      if (url.pathname === '/devnet/drop' && request.method === 'POST') {
        const { hash } = await body(request);
        return reply(response, (await chain.drop(hash)) ? 200 : 404, { hash });
      }
      if (url.pathname === '/devnet/pause' && request.method === 'POST') {
        state.paused = Boolean((await body(request)).paused);
        return reply(response, 200, { paused: state.paused });
      }
      if (url.pathname === '/devnet/hold' && request.method === 'POST') {
        const { hash, blocks: count } = await body(request);
        chain.held.set(hash, Number(count ?? 1));
        return reply(response, 200, { hash, blocks: chain.held.get(hash) });
      }
      if (url.pathname === '/devnet/reorg' && request.method === 'POST') {
        const { depth, keepOut, keepOutBlocks } = await body(request);
        if (!(depth >= 1 && depth <= chain.blocks.length)) return reply(response, 400, { error: 'depth out of range' });
        await chain.reorg(Number(depth), keepOut ?? [], Number(keepOutBlocks ?? 1));
        return reply(response, 200, { height: chain.height, stateHash: chain.blocks.at(-1)?.stateHash });
      }
      if (url.pathname === '/devnet/block' && request.method === 'POST') {
        chain.produceBlock();
        return reply(response, 200, { height: chain.height });
      }
      if (url.pathname === '/health') {
        return reply(response, 200, { status: 'ok', height: chain.height, pending: chain.pending.length });
      }
      reply(response, 404, { error: `no route ${request.method} ${url.pathname}` });
    } catch (error) {
      const failure = /** @type {Error} */ (error);
      log('error', failure.stack ?? String(failure));
      reply(response, 500, { errors: [{ message: `internal error: ${String(failure.message).split('\n')[0]}` }] });
    }
  });

  await chain.rebuild();
  const ticker = setInterval(() => { if (!state.paused) chain.produceBlock(); }, blockIntervalMs);
  server.listen(port, host, () => {
    state.unsyncedUntil = Date.now() + unsyncedFor; // the start-up period counts from serving
    log('start', `devnet at http://${host}:${port}/graphql, height ${chain.height}, ` +
      `${chain.funded.length} funded keys, a block every ${blockIntervalMs / 1000} s`);
    process.stdout.write(JSON.stringify({ event: 'ready', graphql: `http://${host}:${port}/graphql`,
      archive: `http://${host}:${port}/archive`, height: chain.height }) + '\n');
  });

  /** @param {string} signal */
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
}

await main();
