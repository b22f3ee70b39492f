// @solana/kit, unchanged, against a BlackBook node: node kit.mjs <rpc url> <ws url>.
// kit's own factories for airdrop and send-and-confirm (both wait on PubSub notifications), legacy
// and v0 transfers with a priority fee, and the account, logs, slot, root and block subscriptions a
// dapp opens. Exits non-zero at the first mismatch.
import {
  address, airdropFactory, appendTransactionMessageInstructions, createSolanaRpc,
  createSolanaRpcSubscriptions, createTransactionMessage, generateKeyPairSigner,
  getSignatureFromTransaction, lamports, pipe, sendAndConfirmTransactionFactory,
  setTransactionMessageFeePayerSigner, setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
} from '@solana/kit';
import { getTransferSolInstruction } from '@solana-program/system';
import {
  getSetComputeUnitLimitInstruction, getSetComputeUnitPriceInstruction,
} from '@solana-program/compute-budget';
import { check, within, until, expectedFee, WAIT_MS } from './check.mjs';

const [rpcUrl, wsUrl] = process.argv.slice(2);
check(rpcUrl && wsUrl, 'usage: node kit.mjs <rpc url> <ws url>');
const rpc = createSolanaRpc(rpcUrl);
const rpcSubscriptions = createSolanaRpcSubscriptions(wsUrl);
const payer = await generateKeyPairSigner();
const dest = await generateKeyPairSigner();

const stop = new AbortController();
const seen = { account: [], logs: [], slots: [], roots: [], blocks: [] };
async function follow(kind, notifications, keep) {
  const stream = await notifications.subscribe({ abortSignal: stop.signal });
  (async () => {
    for await (const n of stream) seen[kind].push(keep(n));
  })().catch((e) => {
    if (!stop.signal.aborted) {
      console.error(`${kind} subscription failed:`, e);
      process.exit(1);
    }
  });
}
const confirmed = { commitment: 'confirmed' };
await follow('account', rpcSubscriptions.accountNotifications(dest.address, { ...confirmed, encoding: 'base64' }),
  (n) => n.value.lamports);
await follow('logs', rpcSubscriptions.logsNotifications({ mentions: [payer.address] }, confirmed),
  (n) => n.value.signature);
await follow('slots', rpcSubscriptions.slotNotifications(), (n) => n.slot);
await follow('roots', rpcSubscriptions.rootNotifications(), (n) => n);
await follow('blocks', rpcSubscriptions.blockNotifications('all', {
  ...confirmed, transactionDetails: 'signatures', maxSupportedTransactionVersion: 0,
}), (n) => n.value.block?.signatures ?? []);

const airdrop = airdropFactory({ rpc, rpcSubscriptions });
const airdropSignature = await within(WAIT_MS, 'airdrop',
  airdrop({ ...confirmed, recipientAddress: payer.address, lamports: lamports(1_000_000_000n) }));
check((await rpc.getBalance(payer.address).send()).value === 1_000_000_000n, 'airdropped balance');

const sendAndConfirm = sendAndConfirmTransactionFactory({ rpc, rpcSubscriptions });
const [price, limit] = [10_000, 300];
const sent = [];
for (const version of ['legacy', 0]) {
  const { value: blockhash } = await rpc.getLatestBlockhash().send();
  const message = pipe(
    createTransactionMessage({ version }),
    (m) => setTransactionMessageFeePayerSigner(payer, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash(blockhash, m),
    (m) => appendTransactionMessageInstructions([
      getSetComputeUnitLimitInstruction({ units: limit }),
      getSetComputeUnitPriceInstruction({ microLamports: BigInt(price) }),
      getTransferSolInstruction({ source: payer, destination: dest.address, amount: lamports(1_000_000n) }),
    ], m),
  );
  const signed = await signTransactionMessageWithSigners(message);
  await within(WAIT_MS, `sendAndConfirm (${version})`, sendAndConfirm(signed, confirmed));
  const signature = getSignatureFromTransaction(signed);
  const tx = await rpc.getTransaction(signature, { ...confirmed, maxSupportedTransactionVersion: 0, encoding: 'json' }).send();
  check(tx.meta.err === null && tx.version === version, 'transaction', version, tx.version, tx.meta.err);
  check(tx.meta.fee === BigInt(expectedFee(price, limit)), 'priority fee', tx.meta.fee);
  sent.push(signature);
}
check((await rpc.getBalance(dest.address).send()).value === 2_000_000n, 'receiver balance');
const history = (await rpc.getSignaturesForAddress(payer.address).send()).map((s) => s.signature);
check(JSON.stringify(history) === JSON.stringify([...sent].reverse().concat(airdropSignature)), 'history', history);
const fees = await rpc.getRecentPrioritizationFees([payer.address]).send();
check(fees.some((f) => f.prioritizationFee === BigInt(price)), 'prioritization fees', fees);
check(typeof (await rpc.getVoteAccounts().send()).current[0]?.votePubkey === 'string', 'vote accounts');
check((await rpc.getClusterNodes().send()).length === 1, 'cluster nodes');
check(address(dest.address) === dest.address, 'address');

await until(WAIT_MS, 'account notifications', () => seen.account.includes(2_000_000n));
check(seen.account.includes(1_000_000n), 'account notifications', seen.account);
await until(WAIT_MS, 'logs notifications', () => sent.every((s) => seen.logs.includes(s)));
await until(WAIT_MS, 'block notifications', () => sent.every((s) => seen.blocks.flat().includes(s)));
check(seen.logs.includes(airdropSignature), 'airdrop logs notification', seen.logs);
check(seen.slots.length > 0 && seen.slots.every((s, i) => i === 0 || s > seen.slots[i - 1]), 'slots', seen.slots);
// A fresh node roots its first slot 32 votes in (6.4 s of 200 ms slots).
await until(WAIT_MS, 'root notifications', () => seen.roots.length > 0);
stop.abort();
console.log(JSON.stringify({ ok: true, account: seen.account.length, logs: seen.logs.length, slots: seen.slots.length, roots: seen.roots.length, blocks: seen.blocks.length }));
process.exit(0);
