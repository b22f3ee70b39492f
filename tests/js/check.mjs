// Shared by the client scripts: assertions that name what failed, and a bound on every wait.

/** Throws `what` (with the values) unless `ok`. */
export function check(ok, what, ...values) {
  if (!ok) {
    throw new Error(`${what}: ${values.map((v) => JSON.stringify(v, bigints)).join(' ')}`);
  }
}

/** `promise`, or an error naming `what` after `ms`: a wait that never ends must fail the test. */
export function within(ms, what, promise) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Resolves once `poll()` returns a truthy value, checked every 100 ms, for at most `ms`. */
export async function until(ms, what, poll) {
  return within(ms, what, (async () => {
    for (;;) {
      const v = poll();
      if (v) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
  })());
}

/** A JSON replacer for values that hold bigints (kit's numbers). */
export function bigints(_key, v) {
  return typeof v === 'bigint' ? v.toString() : v;
}

/** Fee for one signature plus the priority fee: price × limit micro-lamports, rounded up. */
export function expectedFee(microLamportsPerUnit, unitLimit) {
  return 5000 + Math.ceil((microLamportsPerUnit * unitLimit) / 1e6);
}

/** Liveness bound for a notification or confirmation (many 200 ms slots; not a speed target). */
export const WAIT_MS = 30_000;

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** Base58 of `bytes` (a signature to subscribe to before the client library sends it). */
export function base58(bytes) {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let text = '';
  for (; n > 0n; n /= 58n) text = ALPHABET[Number(n % 58n)] + text;
  for (const b of bytes) {
    if (b !== 0) break;
    text = '1' + text;
  }
  return text;
}
