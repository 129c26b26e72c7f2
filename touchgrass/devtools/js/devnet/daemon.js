// @ts-check
// The daemon's GraphQL (daemon.graphql, the daemon's own types) over a `Chain`, with the
// daemon's rules as read in its sources (docs/chain.md): a variable an operation uses but the
// request leaves out is refused ("Missing variable", ocaml-graphql-server 0.13.0 has no
// "missing means null"); `version` is a commit id; `networkID`, `chainId` and the era's
// consensus constants are settings; sends are refused in the resolver's words while not
// synced. `zkapp.id` is an opaque base64 encoding of the whole command (long, like the
// daemon's), and `transactionStatus` takes only such an id. A block is INCLUDED only while it
// is in the frontier (the daemon's k).
import { Kind, parse, visit } from 'graphql';
import { Field, PublicKey, TokenId, Transaction, Types } from 'o1js';
import { EpochSeed, LedgerHash, ReceiptChainHash, StateHash } from '../../src/o1js-internal.js';
import { Refused, field } from './chain.js';

/**
 * @typedef {import('./chain.js').Chain} Chain
 * @typedef {import('./chain.js').Block} Block
 * @typedef {import('./chain.js').Included} Included
 * @typedef {{ frontier: number, daemonVersion: string, networkId: string, chainId: string,
 *             slotDurationMs: number, zkappStateLength: number, genesisTime: number,
 *             synced: () => boolean }} DaemonOptions
 */

const INT32_MAX = 2 ** 31 - 1;

/**
 * Variables the operation uses in an argument that the request leaves out. The daemon's
 * GraphQL library refuses each ("Missing variable `name`"); graphql-js would read null.
 * @param {string} query @param {Record<string, unknown> | null | undefined} variables
 * @returns {string[]}
 */
export function missingVariables(query, variables) {
  let document;
  try {
    document = parse(query);
  } catch {
    return []; // a syntax error is graphql-js's to answer
  }
  /** @type {Set<string>} */
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

/**
 * `zkapp.id`: like the daemon's, an opaque encoding of the whole command (base64; the daemon
 * encodes its binary form, we encode the JSON). Computed on demand, never journaled.
 * @param {any} json
 */
function commandId(json) {
  return Buffer.from(JSON.stringify(json)).toString('base64');
}

/** @param {unknown} id */
function commandFromId(id) {
  try {
    const json = JSON.parse(Buffer.from(String(id), 'base64').toString('utf8'));
    if (json && typeof json === 'object' && json.feePayer && Array.isArray(json.accountUpdates)) return json;
  } catch {}
  throw new Error(`Invalid transaction provided: ${String(id).slice(0, 60)} is not a serialized zkApp command`);
}

/** @param {Included} c */
function commandResult(c) {
  return {
    id: () => commandId(c.json),
    hash: c.hash,
    zkappCommand: {
      feePayer: { body: c.json.feePayer.body },
      accountUpdates: c.json.accountUpdates.map((/** @type {any} */ u) => ({ body: u.body })),
      memo: c.json.memo,
    },
    failureReason: c.failure ? [{ index: '0', failures: [c.failure] }] : null,
  };
}

/** @param {Block} block */
function epochData(block) {
  return {
    ledger: { hash: LedgerHash.toBase58(field('epoch-ledger')), totalCurrency: '0' },
    seed: EpochSeed.toBase58(field('seed')),
    startCheckpoint: StateHash.toBase58(field('start')),
    lockCheckpoint: StateHash.toBase58(field('lock')),
    epochLength: String(block.height),
  };
}

/** @param {Block} block @param {number} index @param {Block[]} all */
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

/**
 * The `account` answer from the best tip's ledger; `inferredNonce` counts the fee payer's
 * pending commands.
 * @param {Chain} chain @param {DaemonOptions} options
 * @param {string} publicKey @param {string | null | undefined} tokenBase58
 */
function accountJson(chain, options, publicKey, tokenBase58) {
  const key = PublicKey.fromBase58(publicKey);
  const tokenId = tokenBase58 ? TokenId.fromBase58(tokenBase58) : TokenId.default;
  if (!chain.tip.hasAccount(key, tokenId)) return null;
  const account = Types.Account.toJSON(chain.tip.getAccount(key, tokenId));
  const defaultToken = !tokenBase58 || tokenBase58 === TokenId.toBase58(TokenId.default);
  const pendingOfPayer = defaultToken ? chain.pending.filter((c) => c.feePayer === publicKey).length : 0;
  const zkapp = account.zkapp;
  /** @type {any} */
  const timing = account.timing ?? {};
  const state = zkapp ? [...zkapp.appState] : null;
  while (state && state.length < options.zkappStateLength) state.push('0'); // 32 fields on Mesa
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
    zkappState: state,
    verificationKey: zkapp?.verificationKey
      ? { verificationKey: zkapp.verificationKey.data, hash: zkapp.verificationKey.hash }
      : null,
    actionState: zkapp ? zkapp.actionState : null,
    provedState: zkapp ? zkapp.provedState : false,
    zkappUri: zkapp ? zkapp.zkappUri : null,
  };
}

/**
 * The daemon's root resolvers over `chain`.
 * @param {Chain} chain @param {DaemonOptions} options
 * @returns {Record<string, (args: any) => unknown>}
 */
export function daemonRoot(chain, options) {
  const { synced } = options;
  const inFrontier = () => chain.blocks.slice(-options.frontier);
  return {
    account: ({ publicKey, token }) => (synced() ? accountJson(chain, options, publicKey, token) : null),
    syncStatus: () => (synced() ? 'SYNCED' : 'BOOTSTRAP'),
    daemonStatus: () => ({
      syncStatus: synced() ? 'SYNCED' : 'BOOTSTRAP',
      blockchainLength: chain.height,
      chainId: options.chainId,
      commitId: options.daemonVersion,
      // the era's constants, whatever pace the devnet makes blocks at (a local network's
      // pace is not a protocol constant); Int! in the daemon's schema (32-bit)
      consensusConfiguration: {
        delta: 0, k: options.frontier, slotsPerEpoch: 7140, slotDuration: options.slotDurationMs,
        epochDuration: Math.min(7140 * options.slotDurationMs, INT32_MAX), acceptableNetworkDelay: 180000,
      },
    }),
    version: () => options.daemonVersion,
    networkID: () => options.networkId,
    genesisConstants: () => ({
      accountCreationFee: '1000000000', coinbase: '720000000000',
      genesisTimestamp: new Date(options.genesisTime).toISOString(),
    }),
    bestChain: ({ maxLength }) => {
      if (!synced()) return null;
      const known = inFrontier();
      const chosen = maxLength == null ? known : known.slice(-Math.max(0, maxLength));
      const offset = chain.blocks.length - chosen.length;
      return chosen.map((block, i) => blockJson(block, offset + i, chain.blocks));
    },
    pooledZkappCommands: ({ publicKey, hashes, ids }) => {
      const wanted = ids ? new Set(ids) : null;
      return chain.pending
        .filter((c) => !publicKey || c.feePayer === publicKey)
        .filter((c) => !hashes || hashes.includes(c.hash))
        .filter((c) => !wanted || wanted.has(commandId(c.json)))
        .map(commandResult);
    },
    transactionStatus: async ({ payment, zkappTransaction }) => {
      if (payment != null) throw new Error('touchgrass devnet: payments are not supported');
      if (zkappTransaction == null) throw new Error('Invalid query: provide payment or zkappTransaction');
      const hash = await Transaction.hash(commandFromId(zkappTransaction));
      if (chain.pending.some((c) => c.hash === hash)) return 'PENDING';
      if (inFrontier().some((b) => b.commands.some((c) => c.hash === hash))) return 'INCLUDED';
      return 'UNKNOWN'; // dropped, or final and out of the frontier: the daemon cannot tell
    },
    sendZkapp: async ({ input }) => {
      // the resolver's own words while the node has no best tip to apply commands to
      if (!synced()) throw new Error('Daemon is bootstrapping');
      try {
        return { zkapp: commandResult(await chain.send(input.zkappCommand)) };
      } catch (error) {
        if (error instanceof Refused) throw new Error(error.message);
        throw error;
      }
    },
  };
}
