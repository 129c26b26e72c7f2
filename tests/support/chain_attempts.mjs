// @ts-check
// Test helper (zk tests): transactions an adversary could send to the devnet, made with o1js.
//   node chain_attempts.mjs lookalike  {endpoint, payerKey, fields, verificationKey, admin,
//                                       permissions}
//     a new account that looks like our zkApp: the given verification key (the contract's
//     own), `admin` (a Mina address) as its admin state, and the same seven-field record as
//     an action made by signature in its deploy; `permissions` "signature": actions stay
//     editable by signature; "genuine": exactly the contract's permissions (they apply after
//     the deploy's actions)
//   node chain_attempts.mjs tamper     {endpoint, payerKey, zkapp, fields}
//     tries to change an AuthenticityZkApp's records without its proof: a forged action, new
//     permissions; each answer (refusal or failure) is printed
// Reads the JSON parameters from stdin; prints one JSON line of signed commands (the test sends
// them with touchgrass's own chain client, as the publisher does).
import {
  AccountUpdate, Field, Mina, Permissions, PrivateKey, PublicKey, VerificationKey, fetchAccount,
} from 'o1js';

/** The permissions AuthenticityZkApp's deploy sets (node/js/src/zkapp.js). */
const genuine = () => ({
  ...Permissions.default(),
  editActionState: Permissions.proof(),
  editState: Permissions.proof(),
  setVerificationKey: Permissions.VerificationKey.impossibleDuringCurrentVersion(),
  setPermissions: Permissions.impossible(),
});

const [mode] = process.argv.slice(2);
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const params = JSON.parse(Buffer.concat(chunks).toString('utf8'));
Mina.setActiveInstance(Mina.Network({ mina: params.endpoint, networkId: 'devnet' }));
const payer = PrivateKey.fromBase58(params.payerKey);
const sender = payer.toPublicKey();
const { Actions } = AccountUpdate;

const { account } = await fetchAccount({ publicKey: sender });
let nonce = Number(account.nonce.toBigint());

// `again`: the same nonce as the one before (an attempt expected to be refused uses none)
async function signed(build, keys, again = false) {
  if (again) nonce -= 1;
  const tx = await Mina.transaction({ sender, fee: 100_000_000, nonce: nonce++ }, build);
  tx.sign([payer, ...keys]);
  return JSON.parse(tx.toJSON());
}

const fields = params.fields.map((value) => Field(BigInt(value)));
if (mode === 'lookalike') {
  const key = PrivateKey.random();
  const address = key.toPublicKey();
  const command = await signed(async () => {
    AccountUpdate.fundNewAccount(sender);
    const update = AccountUpdate.createSigned(address);
    update.account.verificationKey.set(new VerificationKey({
      data: params.verificationKey.data, hash: Field(BigInt(params.verificationKey.hash)) }));
    update.account.permissions.set(params.permissions === 'genuine' ? genuine()
      : { ...Permissions.default(), editActionState: Permissions.signature() });
    if (params.admin) {
      const [x, isOdd] = PublicKey.fromBase58(params.admin).toFields();
      AccountUpdate.setValue(update.update.appState[0], x);
      AccountUpdate.setValue(update.update.appState[1], isOdd);
    }
    update.body.actions = Actions.pushEvent(Actions.empty(), fields);
  }, [key]);
  console.log(JSON.stringify({ commands: [command], address: address.toBase58() }));
} else if (mode === 'tamper') {
  const zkapp = PublicKey.fromBase58(params.zkapp);
  await fetchAccount({ publicKey: zkapp });
  const forged = await signed(async () => {
    const update = AccountUpdate.create(zkapp);
    update.body.actions = Actions.pushEvent(Actions.empty(), fields);
  }, []);
  const reopened = await signed(async () => {
    const update = AccountUpdate.create(zkapp);
    update.account.permissions.set({ ...Permissions.default(), editActionState: Permissions.none() });
  }, [], true);
  console.log(JSON.stringify({ commands: [forged, reopened] }));
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
process.exit(0);
