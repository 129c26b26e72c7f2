// @ts-check
// Entry point of one prover process. Configuration comes from the environment (the Python
// pool sets it): TOUCHGRASS_CURVE, CIRCUIT_CACHE_PATH, TOUCHGRASS_PROVER_THREADS. Compiles
// once (from the file cache when it is warm), prints {"event": "ready"} on stdout, then
// serves the JSON-lines protocol of service.js until stdin closes.
import os from 'node:os';
import { Cache, setBackend, setNumberOfWorkers } from 'o1js';
import { makeChainOps } from './chain.js';
import { authenticityProgram } from './circuit.js';
import { makeOps, serve } from './service.js';
import { authenticityZkApp } from './zkapp.js';

// The native backend ships in the npm package for linux-x64 and is 4-6x faster than wasm.
setBackend(process.env.O1JS_BACKEND === 'wasm' ? 'wasm' : 'native');

function log(action, message, level = 'info') {
  process.stderr.write(JSON.stringify({ level, action, message, pid: process.pid }) + '\n');
}

// Never outlive the Python process that drives us: stdin closing (it exited) or being
// re-parented (it was killed) ends this process, even in the middle of a proof.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) process.exit(1);
}, 1000).unref();
process.stdin.on('close', () => process.exit(0));

const curveName = process.env.TOUCHGRASS_CURVE ?? 'secp256k1';
const cacheDir = process.env.CIRCUIT_CACHE_PATH;
const threads = Number(process.env.TOUCHGRASS_PROVER_THREADS ?? os.availableParallelism());
if (!cacheDir) {
  log('start', 'CIRCUIT_CACHE_PATH is required', 'error');
  process.exit(2);
}
setNumberOfWorkers(Math.max(1, threads));

const circuit = authenticityProgram(curveName);
const started = Date.now();
log('compile', `compiling the ${curveName} circuit (cache ${cacheDir})`);
const { verificationKey } = await circuit.Program.compile({ cache: Cache.FileSystem(cacheDir) });
let zkappVerificationKey = null;
let ops = makeOps({ circuit, verificationKey, curveName, log });
// The publisher's processes also build zkApp transactions: compile the contract too.
if (process.env.TOUCHGRASS_ZKAPP === '1') {
  const zkapp = authenticityZkApp(circuit);
  log('compile', 'compiling AuthenticityZkApp');
  ({ verificationKey: zkappVerificationKey } = await zkapp.AuthenticityZkApp.compile({
    cache: Cache.FileSystem(cacheDir) }));
  ops = { ...ops, ...makeChainOps({ zkapp, log }) };
}
// What this build compiles (`python -m touchgrass.node.keys` stores it for checks that must
// not compile: verify-proof, verify, the publisher's redeploy decision).
const { info } = ops;
ops.info = async () => ({
  ...(await info()),
  verificationKey: { hash: verificationKey.hash.toString(), data: verificationKey.data },
  zkappVerificationKey: zkappVerificationKey && {
    hash: zkappVerificationKey.hash.toString(), data: zkappVerificationKey.data },
});
const seconds = (Date.now() - started) / 1000;
log('compile', `compiled in ${seconds.toFixed(1)} s`);

process.stdout.write(
  JSON.stringify({
    event: 'ready',
    curve: curveName,
    compileSeconds: seconds,
    verificationKeyHash: verificationKey.hash.toString(),
    zkappVerificationKeyHash: zkappVerificationKey?.hash.toString() ?? null,
  }) + '\n'
);
await serve(ops, log);
process.exit(0);
