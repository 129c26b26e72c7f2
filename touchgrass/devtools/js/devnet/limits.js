// @ts-check
// The size rule a Mina daemon applies to a zkApp command before anything else, as its own
// sources state it (MinaProtocol/mina at 10aa64bec3b8, src/lib/mina_base/zkapp_command.ml,
// `valid_size` and `zkapp_cost`; the constants in src/lib/mina_compile_config; the wording in
// src/lib/mina_base/user_command.ml, `Well_formedness_error`, and the transaction pool's
// `Invalid` refusal). docs/chain.md "Command size" says it in prose. Pure: no o1js, so a test
// can run it on made-up commands.

/** Berkeley's constants (a node's runtime configuration may override them; ours do not). */
export const BERKELEY_LIMITS = Object.freeze({
  proofCost: 10.26,
  signedPairCost: 10.08,
  signedSingleCost: 9.14,
  costLimit: 69.45,
  maxEventElements: 100,
  maxActionElements: 100,
});

/**
 * The segments a command is proven in: the fee payer first, then the account updates in
 * order; an update with a proof is a segment of its own, and two neighbouring updates
 * without one share a segment.
 * @param {any} json the command, o1js `tx.toJSON()` form
 */
export function segments(json) {
  const proved = [false, ...json.accountUpdates.map(
    (/** @type {any} */ update) => Boolean(update.authorization?.proof))];
  let proof = 0;
  let signedPair = 0;
  let signedSingle = 0;
  for (let i = 0; i < proved.length; i += 1) {
    if (proved[i]) proof += 1;
    else if (i + 1 < proved.length && !proved[i + 1]) {
      signedPair += 1;
      i += 1;
    } else signedSingle += 1;
  }
  return { proof, signedPair, signedSingle };
}

/** @param {any[] | undefined} list events or actions: arrays of field elements */
function elements(list) {
  return (list ?? []).reduce((total, item) => total + item.length, 0);
}

/**
 * Why a daemon would refuse this command's size, in its words, or null when it fits.
 * @param {any} json the command, o1js `tx.toJSON()` form
 * @param {typeof BERKELEY_LIMITS} limits
 */
export function sizeProblem(json, limits = BERKELEY_LIMITS) {
  const { proof, signedPair, signedSingle } = segments(json);
  const cost = limits.proofCost * proof + limits.signedPairCost * signedPair
    + limits.signedSingleCost * signedSingle;
  const updates = json.accountUpdates;
  const events = updates.reduce((/** @type {number} */ n, /** @type {any} */ u) => n + elements(u.body.events), 0);
  const actions = updates.reduce((/** @type {number} */ n, /** @type {any} */ u) => n + elements(u.body.actions), 0);
  const problems = [];
  if (!(cost < limits.costLimit)) problems.push('zkapp transaction too expensive');
  if (events > limits.maxEventElements) {
    problems.push(`too many event elements (${events}, max allowed is ${limits.maxEventElements})`);
  }
  if (actions > limits.maxActionElements) {
    problems.push(`too many sequence event elements (${actions}, max allowed is ${limits.maxActionElements})`);
  }
  if (!problems.length) return null;
  return '(invalid "Some commands have one or more well-formedness errors: '
    + `Zkapp too big (${problems.join('; ')}) ")`;
}
