// @ts-check
// Every import from o1js's internal files, in one place. o1js exports no paths to these, so
// they are loaded by file from the installed package; each path below was read against
// o1js 2.15.0, the release the lockfile pins (READ_AGAINST). Moving to another o1js: check
// each path here, and only here; nothing else reaches past o1js's public exports.

/** The o1js release these paths were read against (a test compares it with the lockfile). */
export const READ_AGAINST = '2.15.0';

const root = import.meta.resolve('o1js');

/**
 * One internal module of the installed o1js, by its path inside the package's dist/node.
 * @param {string} path
 * @returns {Promise<any>}
 */
const internal = (path) => import(new URL(path, root).href);

// The circuit's gadgets (ecdsa.js; bench/circuit.mjs also measures o1js's own Ecdsa):
// foreign-field elliptic-curve arithmetic and witnesses.
export const { EllipticCurve, Point, initialAggregator, Ecdsa } =
  await internal('./lib/provable/gadgets/elliptic-curve.js');
export const { ForeignField, Field3, split } =
  await internal('./lib/provable/gadgets/foreign-field.js');
export const { sliceField3 } = await internal('./lib/provable/gadgets/bit-slices.js');
export const { arrayGetGeneric } = await internal('./lib/provable/gadgets/basic.js');
export const { exists } = await internal('./lib/provable/core/exists.js');
export const { inverse, mod } = await internal('./bindings/crypto/finite-field.js');

// o1js's own JSON signer (its bundled mina-signer), the code o1js signs with (chain.js).
export const { signZkappCommand } = await internal('./mina-signer/src/sign-zkapp-command.js');

// The native bindings and the SRS cache hook the verifier's caches use (tools.js); the
// bindings module's exports are live: they are set once o1js has initialised them.
export const bindings = await internal('./bindings.js');
export const { setSrsCache } = await internal('./bindings/crypto/cache.js');

// The base58check encoders of chain hashes (the devnet's state, ledger and receipt hashes).
export const { StateHash, LedgerHash, EpochSeed, ReceiptChainHash } =
  await internal('./lib/mina/v1/base58-encodings.js');
