// @ts-check
// bench/receipts.py's baseline: one receipt the way touchgrass made them before migration
// 0010, with that version's contract (a TokenContract minting a NEW token account per photo),
// read from git into legacy/ next to this file. Sends a deploy and one verifyAndStore with
// o1js's own tx.send() and prints the fee payer's balance before and after each.
//   node legacy_receipt.mjs < {endpoint, payerKey, proof, chainId, cacheDir}
import { AccountUpdate, Cache, Field, Mina, PrivateKey, fetchAccount, setBackend } from 'o1js';
import { authenticityProgram } from './legacy/circuit.js';
import { authenticityZkApp } from './legacy/zkapp.js';

setBackend('native');
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const params = JSON.parse(Buffer.concat(chunks).toString('utf8'));
Mina.setActiveInstance(Mina.Network({ mina: params.endpoint, networkId: 'devnet' }));
const payer = PrivateKey.fromBase58(params.payerKey);
const sender = payer.toPublicKey();

const circuit = authenticityProgram('secp256k1');
await circuit.Program.compile({ cache: Cache.FileSystem(params.cacheDir) });
const { AuthenticityZkApp, AuthenticityProof } = authenticityZkApp(circuit);
await AuthenticityZkApp.compile({ cache: Cache.FileSystem(params.cacheDir) });

async function balance() {
  const { account } = await fetchAccount({ publicKey: sender });
  return BigInt(account.balance.toString());
}

async function landed(publicKey, tokenId) {
  for (let i = 0; i < 120; i++) {
    const { account } = await fetchAccount({ publicKey, tokenId });
    if (account) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error('not included within 120 s');
}

async function sent(build, keys) {
  await fetchAccount({ publicKey: sender });
  const tx = await Mina.transaction({ sender, fee: 100_000_000 }, build);
  await tx.prove();
  tx.sign([payer, ...keys]);
  const pending = await tx.send();
  if (pending.status !== 'pending') throw new Error(JSON.stringify(pending.errors));
}

const zkappKey = PrivateKey.random();
const app = new AuthenticityZkApp(zkappKey.toPublicKey());
const beforeDeploy = await balance();
await sent(async () => {
  AccountUpdate.fundNewAccount(sender);
  await app.deploy();
}, [zkappKey]);
await landed(zkappKey.toPublicKey());
const beforeReceipt = await balance();
const owner = PrivateKey.random();
const proof = await AuthenticityProof.fromJSON(params.proof);
await sent(async () => {
  AccountUpdate.fundNewAccount(sender);
  await app.verifyAndStore(owner.toPublicKey(), Field(BigInt(params.chainId)), proof);
}, [owner]);
await landed(owner.toPublicKey(), app.deriveTokenId());
const after = await balance();
console.log(JSON.stringify({ deploy: String(beforeDeploy - beforeReceipt),
                             receipt: String(beforeReceipt - after) }));
process.exit(0);
