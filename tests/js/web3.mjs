// @solana/web3.js 1.x, unchanged, against a BlackBook node: node web3.mjs <rpc url> <ws url>.
// The everyday wallet and dapp path: airdrop, a signature notification, sendAndConfirmTransaction
// with a priority fee, a v0 transaction to finalized, simulation, history, and the account, logs,
// slot and root notifications those cause. Exits non-zero at the first mismatch.
import * as w from '@solana/web3.js';
import { base58, check, within, until, expectedFee, WAIT_MS } from './check.mjs';

const [rpcUrl, wsUrl] = process.argv.slice(2);
check(rpcUrl && wsUrl, 'usage: node web3.mjs <rpc url> <ws url>');
const conn = new w.Connection(rpcUrl, { commitment: 'confirmed', wsEndpoint: wsUrl });
const payer = w.Keypair.generate();
const dest = w.Keypair.generate();

const slots = [];
const roots = [];
const accountLamports = [];
const logged = [];
const subscriptions = [
  ['slot', conn.onSlotChange((s) => slots.push(s))],
  ['root', conn.onRootChange((r) => roots.push(r))],
  ['account', conn.onAccountChange(dest.publicKey, (a) => accountLamports.push(a.lamports), 'confirmed')],
  ['logs', conn.onLogs(payer.publicKey, (l, ctx) => logged.push({ ...l, slot: ctx.slot }), 'confirmed')],
];

// Airdrop, confirmed by the blockhash strategy web3.js's wallets use.
const airdrop = await conn.requestAirdrop(payer.publicKey, 2 * w.LAMPORTS_PER_SOL);
const airdropBlockhash = await conn.getLatestBlockhash();
const airdropResult = await within(WAIT_MS, 'airdrop confirmation',
  conn.confirmTransaction({ signature: airdrop, ...airdropBlockhash }, 'confirmed'));
check(airdropResult.value.err === null, 'airdrop failed', airdropResult);
check(await conn.getBalance(payer.publicKey) === 2 * w.LAMPORTS_PER_SOL, 'airdropped balance');

// A signatureSubscribe notification itself (not a status poll): subscribed before sending.
const direct = new w.Transaction({ ...(await conn.getLatestBlockhash()), feePayer: payer.publicKey })
  .add(w.SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: dest.publicKey, lamports: 500_000 }));
direct.sign(payer);
const directSignature = base58(direct.signature);
const notified = new Promise((resolve) => conn.onSignature(directSignature, (r, ctx) => resolve([r, ctx]), 'confirmed'));
check(await conn.sendRawTransaction(direct.serialize()) === directSignature, 'sendRawTransaction signature');
const [directResult, directContext] = await within(WAIT_MS, 'signature notification', notified);
check(directResult.err === null && directContext.slot > 0, 'signature notification', directResult, directContext);

// sendAndConfirmTransaction with the two Compute Budget instructions wallets add.
const [price, limit] = [5_000, 1_000];
const paid = new w.Transaction().add(
  w.ComputeBudgetProgram.setComputeUnitLimit({ units: limit }),
  w.ComputeBudgetProgram.setComputeUnitPrice({ microLamports: price }),
  w.SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: dest.publicKey, lamports: 1_000_000 }));
const paidSignature = await within(WAIT_MS, 'sendAndConfirmTransaction',
  w.sendAndConfirmTransaction(conn, paid, [payer]));
const paidTx = await conn.getTransaction(paidSignature, { maxSupportedTransactionVersion: 0 });
check(paidTx.meta.fee === expectedFee(price, limit), 'priority fee', paidTx.meta.fee);
check(paidTx.meta.err === null && paidTx.version === 'legacy', 'legacy transaction', paidTx.meta, paidTx.version);
const parsed = await conn.getParsedTransaction(paidSignature, { maxSupportedTransactionVersion: 0 });
const transfer = parsed.transaction.message.instructions[2];
check(transfer.parsed?.type === 'transfer' && transfer.parsed.info.lamports === 1_000_000, 'parsed transfer', transfer);
const fees = await conn.getRecentPrioritizationFees({ lockedWritableAccounts: [payer.publicKey] });
check(fees.some((f) => f.slot === paidTx.slot && f.prioritizationFee === price), 'prioritization fee landed', fees);

// Simulation: replaced blockhash, returned accounts, units, logs; and an error in Solana's shape.
const v0Message = (lamports, blockhash) => new w.TransactionMessage({
  payerKey: payer.publicKey,
  recentBlockhash: blockhash,
  instructions: [w.SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: dest.publicKey, lamports })],
}).compileToV0Message();
const destBefore = await conn.getBalance(dest.publicKey);
check(destBefore === 1_500_000, 'receiver balance', destBefore);
const stale = '11111111111111111111111111111111';
const sim = await conn.simulateTransaction(new w.VersionedTransaction(v0Message(5, stale)), {
  sigVerify: false,
  replaceRecentBlockhash: true,
  accounts: { encoding: 'base64', addresses: [dest.publicKey.toBase58()] },
});
check(sim.value.err === null && sim.value.unitsConsumed > 0, 'simulation', sim.value);
check(sim.value.accounts[0].lamports === destBefore + 5, 'simulated account', sim.value.accounts);
check(Array.isArray(sim.value.logs) && sim.value.logs.length > 0, 'simulated logs', sim.value.logs);
check(sim.value.replacementBlockhash?.blockhash !== stale, 'replacement blockhash', sim.value);
const tooMuch = await conn.simulateTransaction(
  new w.VersionedTransaction(v0Message(10 * w.LAMPORTS_PER_SOL, stale)),
  { sigVerify: false, replaceRecentBlockhash: true });
check(JSON.stringify(tooMuch.value.err) === '{"InstructionError":[0,{"Custom":1}]}',
  'insufficient funds error', tooMuch.value.err);

// A v0 transaction, sent raw and confirmed to finalized.
const v0Blockhash = await conn.getLatestBlockhash();
const v0 = new w.VersionedTransaction(v0Message(7, v0Blockhash.blockhash));
v0.sign([payer]);
const v0Signature = await conn.sendTransaction(v0);
const v0Result = await within(WAIT_MS, 'finalized v0 transaction',
  conn.confirmTransaction({ signature: v0Signature, ...v0Blockhash }, 'finalized'));
check(v0Result.value.err === null, 'v0 transaction', v0Result);
const v0Tx = await conn.getTransaction(v0Signature, { maxSupportedTransactionVersion: 0, commitment: 'finalized' });
check(v0Tx.version === 0, 'v0 version', v0Tx.version);
const block = await conn.getBlock(v0Tx.slot, { maxSupportedTransactionVersion: 0 });
check(block.transactions.some((t) => t.transaction.signatures[0] === v0Signature), 'v0 in its block');
const refused = await conn.getBlock(v0Tx.slot).then(() => null, (e) => e.message);
check(refused?.includes('Transaction version (0) is not supported'), 'getBlock without a version', refused);

// History by address, newest first.
const history = (await conn.getSignaturesForAddress(payer.publicKey)).map((s) => s.signature);
check(JSON.stringify(history) === JSON.stringify([v0Signature, paidSignature, directSignature, airdrop]),
  'getSignaturesForAddress', history);
const accounts = await conn.getMultipleAccountsInfo([dest.publicKey, w.Keypair.generate().publicKey]);
check(accounts[0].lamports === destBefore + 7 && accounts[1] === null, 'getMultipleAccounts', accounts);
// web3.js asks for these in one HTTP JSON-RPC batch, as a wallet's activity list does.
const parsedTxs = await conn.getParsedTransactions([directSignature, paidSignature, v0Signature],
  { maxSupportedTransactionVersion: 0 });
check(parsedTxs.map((t) => t?.transaction.signatures[0]).join() === [directSignature, paidSignature, v0Signature].join()
  && parsedTxs[1].meta.fee === expectedFee(price, limit) && parsedTxs[2].version === 0, 'getParsedTransactions (a batch)', parsedTxs);

// The notifications those transfers caused.
await until(WAIT_MS, 'account notification of the last transfer',
  () => accountLamports.includes(destBefore + 7));
check(accountLamports.includes(500_000) && accountLamports.includes(destBefore), 'account notifications', accountLamports);
await until(WAIT_MS, 'logs notifications', () => logged.some((l) => l.signature === v0Signature));
for (const s of [airdrop, directSignature, paidSignature]) {
  check(logged.some((l) => l.signature === s && l.err === null), 'logs notification', s, logged);
}
check(slots.length > 0 && slots.every((s) => s.parent < s.slot && s.root <= s.slot), 'slot notifications', slots);
await until(WAIT_MS, 'root notifications', () => roots.length > 0);

for (const [kind, id] of subscriptions) {
  const remove = {
    slot: 'removeSlotChangeListener', root: 'removeRootChangeListener',
    account: 'removeAccountChangeListener', logs: 'removeOnLogsListener',
  }[kind];
  await conn[remove](id);
}
console.log(JSON.stringify({ ok: true, slots: slots.length, roots: roots.length, accountNotifications: accountLamports.length, logs: logged.length }));
process.exit(0);
