// @ts-check
// The devnet's chain: two ledgers, a mempool with Mina's nonce rules, blocks, and the
// journal that replays them on restart. All of it is one `Chain` object's state; the GraphQL
// layers (daemon.js, archive.js) only read it and call its methods.
//
// Two ledgers (docs/chain.md): `local` takes each accepted command at once, so the next one is
// checked (proof, signature, nonce, balance) against everything before it; `tip` is the best
// tip's ledger, which `account` answers from: a pending command changes nothing there until a
// block includes it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Field, Mina, PrivateKey, PublicKey, Transaction } from 'o1js';
import { StateHash } from '../../src/o1js-internal.js';
import { sizeProblem } from './limits.js';

/**
 * @typedef {{ hash: string, json: any, failure: string | null }} Included
 *   A command as a block holds it (and the journal keeps it).
 * @typedef {Included & { feePayer: string, nonce: number, fee?: string }} Pending
 * @typedef {{ height: number, stateHash: string, time: number, commands: Included[] }} Block
 * @typedef {{ pk: string, sk: string }} FundedKey
 * @typedef {{ stateDir: string, accounts: number, fundedBalance: bigint,
 *             log: (action: string, message: string) => void }} ChainOptions
 */

/** A send the mempool refuses, in the daemon's words. */
export class Refused extends Error {}

/**
 * The daemon's wording for a mempool refusal.
 * @param {string} reason
 */
export function refusal(reason) {
  return `Couldn't send zkApp command: ["${reason}"]`;
}

/**
 * A field element from any text: stable made-up hashes for placeholders.
 * @param {string} text
 */
export function field(text) {
  return Field(BigInt('0x' + crypto.createHash('sha256').update(text).digest('hex')) % Field.ORDER);
}

/** @param {unknown} error */
function classify(error) {
  const text = String(/** @type {any} */ (error)?.message ?? error);
  const first = text.split('\n')[0];
  if (/proof|verif/i.test(text)) return `Verification_failed: ${first.slice(0, 200)}`;
  if (/signature/i.test(text)) return `(Verification_failed (Invalid_signature ${first.slice(0, 120)}))`;
  if (/balance|insufficient|overflow/i.test(text)) return 'Insufficient_funds';
  if (/nonce/i.test(text)) return 'Invalid_nonce';
  return first.slice(0, 300);
}

export class Chain {
  /** @param {ChainOptions} options */
  constructor(options) {
    this.options = options;
    const { stateDir } = options;
    fs.mkdirSync(stateDir, { recursive: true });
    this.keysFile = path.join(stateDir, 'funded-keys.json');
    this.journalFile = path.join(stateDir, 'blocks.jsonl');
    this.acquiredFile = path.join(stateDir, 'acquired.json');
    /** @type {FundedKey[]} */
    this.funded = fs.existsSync(this.keysFile)
      ? JSON.parse(fs.readFileSync(this.keysFile, 'utf8'))
      : Array.from({ length: options.accounts }, () => {
          const key = PrivateKey.random();
          return { pk: key.toPublicKey().toBase58(), sk: key.toBase58() };
        });
    fs.writeFileSync(this.keysFile, JSON.stringify(this.funded, null, 1), { mode: 0o600 });
    /** @type {Set<string>} */
    this.acquired = new Set(fs.existsSync(this.acquiredFile)
      ? JSON.parse(fs.readFileSync(this.acquiredFile, 'utf8')) : []);
    /** @type {Block[]} */
    this.blocks = fs.existsSync(this.journalFile)
      ? fs.readFileSync(this.journalFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line))
      : [];
    /** @type {Pending[]} */
    this.pending = [];
    /** @type {Map<string, number>} command hash -> blocks it stays out of (a test hook) */
    this.held = new Map();
    this.forks = 0; // reorgs so far: part of every later block's state hash
    /** @type {any} every accepted command applied */
    this.local = null;
    /** @type {any} only commands in blocks */
    this.tip = null;
  }

  get height() {
    return this.blocks.at(-1)?.height ?? 0;
  }

  /** @param {string} action @param {string} message */
  log(action, message) {
    this.options.log(action, message);
  }

  /** Both ledgers anew: the funded keys, then every block's commands, then the pending. */
  async rebuild() {
    this.local = await Mina.LocalBlockchain({ proofsEnabled: true });
    this.tip = await Mina.LocalBlockchain({ proofsEnabled: true });
    Mina.setActiveInstance(this.local);
    for (const ledger of [this.local, this.tip]) {
      for (const { pk } of this.funded) {
        ledger.addAccount(PublicKey.fromBase58(pk), this.options.fundedBalance.toString());
      }
    }
    // Commands in blocks were verified when they were sent: re-applied without re-proving.
    const included = this.blocks.flatMap((block) => block.commands);
    replay(this.tip, included);
    replay(this.local, [...included, ...this.pending]);
  }

  /** @param {any} ledger @param {string} publicKey */
  nonceIn(ledger, publicKey) {
    const key = PublicKey.fromBase58(publicKey);
    return ledger.hasAccount(key) ? Number(ledger.getAccount(key).nonce.toBigint()) : 0;
  }

  /**
   * Take a command into the mempool, or refuse it as a daemon does.
   * @param {any} json the command, o1js `tx.toJSON()` form
   * @returns {Promise<Pending>}
   */
  async send(json) {
    let transaction;
    let hash;
    try {
      transaction = Transaction.fromJSON(json);
      hash = await Transaction.hash(json);
    } catch (error) {
      throw new Refused(`Couldn't parse zkApp command: ${String(/** @type {any} */ (error).message).split('\n')[0]}`);
    }
    // A daemon's first check, before the pool looks at nonces, signatures or proofs.
    const tooBig = sizeProblem(json);
    if (tooBig) throw new Refused(`Couldn't send zkApp command: ${tooBig}`);
    const command = transaction.transaction;
    // Duplicate is for a command still in the pool; one already in a block fails on its nonce.
    if (this.pending.some((c) => c.hash === hash)) throw new Refused(refusal('Duplicate'));
    const feePayer = command.feePayer.body.publicKey.toBase58();
    const nonce = Number(command.feePayer.body.nonce.toBigint());
    const inferred = this.nonceIn(this.local, feePayer);
    const committed = this.nonceIn(this.tip, feePayer);
    if (nonce >= committed && nonce < inferred) {
      // the nonce belongs to a pending command: only a higher fee could replace it
      throw new Refused(refusal('Insufficient_replace_fee'));
    }
    if (nonce !== inferred) throw new Refused(refusal('Invalid_nonce'));
    let result;
    try {
      result = await this.local.sendTransaction(transaction);
    } catch (error) {
      // proofs and signatures are checked before anything is applied: refused outright
      throw new Refused(`Couldn't send zkApp command: ${classify(error)}`);
    }
    let failure = null;
    if (result.status !== 'pending') {
      if (this.nonceIn(this.local, feePayer) === inferred) {
        throw new Refused(`Couldn't send zkApp command: ${classify(result.errors?.[0] ?? 'rejected')}`);
      }
      // As on Mina: the fee payer paid and used its nonce, the account updates failed (a
      // precondition, say). The command is included with a failure reason.
      failure = String(result.errors?.[0] ?? 'failed').split('\n')[0].slice(0, 500);
    }
    /** @type {Pending} */
    const entry = { hash, json, feePayer, nonce, fee: command.feePayer.body.fee.toString(), failure };
    this.pending.push(entry);
    this.log('mempool', `accepted ${hash} (fee payer nonce ${nonce})${failure ? ' [fails: ' + failure + ']' : ''}`);
    return entry;
  }

  /**
   * A block of the pending commands in nonce order, up to the first held one of each fee
   * payer (a later nonce cannot go before it).
   */
  produceBlock() {
    const height = this.height + 1;
    const blocked = new Set();
    /** @type {Pending[]} */
    const taken = [];
    /** @type {Pending[]} */
    const kept = [];
    for (const command of this.pending) {
      const wait = this.held.get(command.hash) ?? 0;
      if (wait > 0 || blocked.has(command.feePayer)) {
        blocked.add(command.feePayer);
        kept.push(command);
      } else {
        taken.push(command);
      }
    }
    for (const [hash, wait] of this.held) {
      if (wait <= 1) this.held.delete(hash);
      else this.held.set(hash, wait - 1);
    }
    const commands = taken.map(({ hash, json, failure }) => ({ hash, json, failure }));
    const stateHash = StateHash.toBase58(field(`${this.forks}:${height}:${commands.map((c) => c.hash).join()}`));
    replay(this.tip, commands);
    this.append({ height, stateHash, time: Date.now(), commands });
    if (commands.length) this.log('block', `block ${height} includes ${commands.length} command(s)`);
    this.pending = kept;
  }

  /** @param {Block} block */
  append(block) {
    const fd = fs.openSync(this.journalFile, 'a');
    fs.writeSync(fd, JSON.stringify(block) + '\n');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    this.blocks.push(block);
  }

  /**
   * A reorg: the last `depth` blocks leave the best chain; their commands go back to the
   * mempool (before the pending ones: lower nonces), and as many new blocks are made, except
   * that commands in `keepOut` stay in the mempool for `keepOutBlocks` blocks.
   * @param {number} depth @param {string[]} keepOut @param {number} keepOutBlocks
   */
  async reorg(depth, keepOut = [], keepOutBlocks = 1) {
    const replaced = this.blocks.splice(this.blocks.length - depth, depth);
    /** @type {Pending[]} */
    const back = replaced.flatMap((block) => block.commands).map((c) => ({
      ...c, feePayer: c.json.feePayer.body.publicKey, nonce: Number(c.json.feePayer.body.nonce),
    }));
    fs.writeFileSync(this.journalFile, this.blocks.map((b) => JSON.stringify(b) + '\n').join(''));
    this.pending = [...back, ...this.pending];
    for (const hash of keepOut) this.held.set(hash, keepOutBlocks);
    this.forks += 1;
    await this.rebuild();
    for (let i = 0; i < depth; i++) this.produceBlock();
    this.log('reorg', `replaced the last ${depth} block(s); ${back.length} command(s) went back to the mempool`);
  }

  /** @param {string} hash */
  async drop(hash) {
    const before = this.pending.length;
    this.pending = this.pending.filter((c) => c.hash !== hash);
    if (this.pending.length === before) return false;
    await this.rebuild();
    this.log('mempool', `dropped ${hash}`);
    return true;
  }

  /** A funded key nobody holds, now held (Lightnet's account manager); null when none is left. */
  acquire() {
    const free = this.funded.find((k) => !this.acquired.has(k.pk));
    if (!free) return null;
    this.acquired.add(free.pk);
    fs.writeFileSync(this.acquiredFile, JSON.stringify([...this.acquired]));
    return free;
  }

  /** @param {string} pk */
  release(pk) {
    this.acquired.delete(pk);
    fs.writeFileSync(this.acquiredFile, JSON.stringify([...this.acquired]));
  }
}

/** @param {any} ledger @param {Included[]} commands */
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
