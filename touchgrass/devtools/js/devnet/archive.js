// @ts-check
// What an archive node's GraphQL API (Archive-Node-API, archive.graphql) answers for zkApp
// actions and events, over a `Chain`'s blocks, as that service's resolvers do (docs/chain.md):
// without from/to only the last `window` blocks (its BLOCK_RANGE_SIZE, 10,000 there), a wider
// range an error, `to` exclusive, an unknown action state an error, `accountUpdateId` the id
// of the account update's body (identical bodies share one), ActionOutput.transactionInfo
// unfilled, and the archive `lag` blocks behind the node. A block is "canonical" once
// `frontier` blocks deep, "pending" before; failed commands left none.
import { AccountUpdate, Field, TokenId } from 'o1js';
import { LedgerHash, StateHash } from '../../src/o1js-internal.js';
import { field } from './chain.js';

/**
 * @typedef {import('./chain.js').Chain} Chain
 * @typedef {import('./chain.js').Block} Block
 * @typedef {{ frontier: number, window: number, lag: number }} ArchiveOptions
 * @typedef {{ id: string, items: string[][], transactionInfo: object }} Update
 * @typedef {{ block: Block, index: number, updates: Update[] }} Found
 * @typedef {{ from?: number | null, to?: number | null, status?: string | null }} Range
 */

const DEFAULT_TOKEN = TokenId.toBase58(TokenId.default);
const { Actions } = AccountUpdate;

/** @param {any} update */
function authorizationKind(update) {
  const kind = update.body.authorizationKind ?? {};
  return kind.isProved ? 'Proof' : kind.isSigned ? 'Signature' : 'None_given';
}

/**
 * The archive's root resolvers over `chain`.
 * @param {Chain} chain @param {ArchiveOptions} options
 * @returns {Record<string, (args: any) => unknown>}
 */
export function archiveRoot(chain, options) {
  /** @type {Map<string, number>} account update body (JSON) -> the archive's id for it */
  const bodyIds = new Map();
  /** @param {unknown} body */
  const bodyId = (body) => {
    const key = JSON.stringify(body);
    if (!bodyIds.has(key)) bodyIds.set(key, bodyIds.size + 1);
    return /** @type {number} */ (bodyIds.get(key));
  };

  // What the archive has: every block up to `lag` blocks behind the node's tip.
  const archived = () =>
    options.lag > 0 ? chain.blocks.slice(0, Math.max(0, chain.blocks.length - options.lag)) : chain.blocks;

  /** @param {Block} block @param {number} index */
  const blockInfo = (block, index) => {
    const tip = archived().at(-1)?.height ?? 0;
    const distance = tip - block.height;
    return {
      height: block.height, stateHash: block.stateHash,
      parentHash: chain.blocks[index - 1]?.stateHash ?? StateHash.toBase58(field('genesis')),
      ledgerHash: LedgerHash.toBase58(field(`staged:${block.height}`)),
      chainStatus: distance >= options.frontier ? 'canonical' : 'pending',
      timestamp: String(block.time),
      globalSlotSinceHardfork: block.height, globalSlotSinceGenesis: block.height,
      distanceFromMaxBlockHeight: distance,
    };
  };

  /**
   * Every applied account update of this account, block by block, with what `pick` takes
   * from it (its actions or its events), in chain order.
   * @param {string} address @param {string | null | undefined} tokenId
   * @param {(body: any) => string[][] | undefined} pick
   * @returns {Found[]}
   */
  const perBlock = (address, tokenId, pick) => {
    const token = tokenId ?? DEFAULT_TOKEN;
    /** @type {Found[]} */
    const found = [];
    archived().forEach((block, index) => {
      /** @type {Update[]} */
      const updates = [];
      block.commands.forEach((command, sequenceNumber) => {
        if (command.failure) return; // a failed command's account updates were not applied
        const all = command.json.accountUpdates;
        const ids = all.map((/** @type {any} */ update) => bodyId(update.body));
        all.forEach((/** @type {any} */ update, /** @type {number} */ i) => {
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
  };

  /**
   * Archive-Node-API's block range: `from` inclusive, `to` exclusive; `from` alone reads
   * `window` blocks from it, `to` alone the window before it, neither the window before the
   * archive's tip; `to - from` wider than the window is an error. (A `from` of 0 counts as
   * not given there, as here.)
   * @param {Range} range
   * @returns {[number, number]}
   */
  const blockRange = ({ from, to }) => {
    if (to != null && from && to < from) throw new Error('to must be greater than from');
    if (to != null && from && to - from > options.window) {
      throw new Error(`The block range is too large. The maximum range is ${options.window}`);
    }
    if (from) return [from, to != null ? Math.min(to, from + options.window) : from + options.window];
    if (to != null) return [to - options.window, to];
    const tip = archived().at(-1)?.height ?? 0;
    return [tip - options.window, Infinity];
  };

  /** @template {{ block: Block, index: number }} T @param {T[]} found @param {Range} input */
  const inRange = (found, input) => {
    const [low, high] = blockRange(input);
    const { status } = input;
    return found.filter(({ block, index }) =>
      block.height >= low && block.height < high &&
      (status == null || status === 'ALL' || blockInfo(block, index).chainStatus === status.toLowerCase()));
  };

  return {
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
      const empty = Actions.emptyActionState().toString();
      /** @param {string} wanted */
      const known = (wanted) => wanted === empty ||
        outputs.some((o) => o.output.actionState.actionStateOne === wanted);
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
      return { maxBlockHeight: { canonicalMaxBlockHeight: Math.max(0, tip - options.frontier), pendingMaxBlockHeight: tip } };
    },
  };
}
