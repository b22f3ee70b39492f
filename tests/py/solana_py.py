"""solana-py and solders (Python), unchanged, against a BlackBook node: python solana_py.py <rpc> <ws>.

Airdrop, a v0 transfer with Compute Budget priority fees (simulated, then sent), a legacy transfer,
history, and the signature, account, logs, slot, root, block and slot-update notifications those
cause. solders decodes every answer and notification into Solana's own types, strictly. Exits
non-zero at the first mismatch.
"""

import asyncio
import json
import sys
import time

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.websocket_api import SolanaWsClient
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.rpc.config import RpcBlockSubscribeFilter, RpcTransactionLogsFilterMentions
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionDetails

# Liveness bound for a confirmation or notification (many 200 ms slots; not a speed target).
WAIT_S = 30


def check(ok, what, *values):
    if not ok:
        raise AssertionError(f"{what}: {values!r}")


async def main(rpc_url, ws_url):
    client = AsyncClient(rpc_url, commitment=Confirmed)
    payer, dest = Keypair(), Keypair()
    seen = {"account": [], "logs": [], "signature": [], "slot": 0, "root": 0, "block": [], "slot_update": 0}

    def note(n):
        kind = type(n).__name__
        if kind == "AccountNotification":
            seen["account"].append(n.result.value.lamports)
        elif kind == "LogsNotification":
            seen["logs"].append(str(n.result.value.signature))
        elif kind == "SignatureNotification":
            seen["signature"].append(n.result.value)
        elif kind == "SlotNotification":
            seen["slot"] += 1
        elif kind == "RootNotification":
            seen["root"] += 1
        elif kind == "BlockNotification":
            block = n.result.value.block
            seen["block"].extend(str(s) for s in (block.signatures or []) if block is not None)
        elif kind == "SlotUpdateNotification":
            seen["slot_update"] += 1

    async with SolanaWsClient(ws_url) as ws:
        await ws.account_subscribe(pubkey=dest.pubkey(), commitment=Confirmed, encoding="base64")
        await ws.logs_subscribe(filter_=RpcTransactionLogsFilterMentions(payer.pubkey()), commitment=Confirmed)
        await ws.slot_subscribe()
        await ws.root_subscribe()
        await ws.slots_updates_subscribe()
        await ws.block_subscribe(
            filter_=RpcBlockSubscribeFilter.All,
            commitment=Confirmed,
            transaction_details=TransactionDetails.Signatures,
            max_supported_transaction_version=0,
        )

        async def wait_for(what, done):
            deadline = time.monotonic() + WAIT_S
            while not done():
                left = deadline - time.monotonic()
                check(left > 0, f"no {what} within {WAIT_S} s", seen)
                try:
                    note(await asyncio.wait_for(ws.recv(), left))
                except asyncio.TimeoutError:
                    pass

        airdrop = (await client.request_airdrop(payer.pubkey(), 10**9)).value
        await ws.signature_subscribe(signature=airdrop, commitment=Confirmed)
        await wait_for("signature notification", lambda: seen["signature"])
        check(seen["signature"][0].err is None, "airdrop notification", seen["signature"])
        check((await client.get_balance(payer.pubkey())).value == 10**9, "airdropped balance")

        price, limit = 7000, 1000
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        instructions = [
            set_compute_unit_limit(limit),
            set_compute_unit_price(price),
            transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=dest.pubkey(), lamports=1_000_000)),
        ]
        v0 = VersionedTransaction(MessageV0.try_compile(payer.pubkey(), instructions, [], blockhash), [payer])
        simulated = (await client.simulate_transaction(v0, sig_verify=True)).value
        check(simulated.err is None and simulated.units_consumed > 0 and simulated.logs, "simulation", simulated)
        v0_signature = (await client.send_transaction(v0)).value
        await client.confirm_transaction(v0_signature, Confirmed)
        v0_tx = (await client.get_transaction(v0_signature, max_supported_transaction_version=0)).value
        fee = 5000 + -(-price * limit // 1_000_000)
        check(v0_tx.transaction.meta.fee == fee, "priority fee", v0_tx.transaction.meta.fee, fee)
        check(v0_tx.transaction.version == 0, "version", v0_tx.transaction.version)
        block = (await client.get_block(v0_tx.slot, max_supported_transaction_version=0)).value
        check(any(t.transaction.signatures[0] == v0_signature for t in block.transactions), "v0 in its block")

        blockhash = (await client.get_latest_blockhash()).value.blockhash
        small = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=dest.pubkey(), lamports=5))
        legacy = VersionedTransaction(Message.new_with_blockhash([small], payer.pubkey(), blockhash), [payer])
        legacy_signature = (await client.send_transaction(legacy)).value
        await client.confirm_transaction(legacy_signature, Confirmed)

        history = [s.signature for s in (await client.get_signatures_for_address(payer.pubkey())).value]
        check(history == [legacy_signature, v0_signature, airdrop], "history, newest first", history)
        fees = (await client.get_recent_prioritization_fees([payer.pubkey()])).value
        check(any(f.slot == v0_tx.slot and f.prioritization_fee == price for f in fees), "fees", fees)
        accounts = (await client.get_multiple_accounts([dest.pubkey(), Keypair().pubkey()])).value
        check(accounts[0].lamports == 1_000_005 and accounts[1] is None, "accounts", accounts)
        # Once the node's vote on the v0 transfer's block lands in a later block, its whole stake
        # (the cluster's only) is on it.
        stake = sum(v.activated_stake for v in (await client.get_vote_accounts()).value.current)
        deadline = time.monotonic() + WAIT_S
        while True:
            commitment = (await client.get_block_commitment(v0_tx.slot)).value
            check(commitment.total_stake == stake > 0 and len(commitment.commitment) == 32,
                  "block commitment", commitment, stake)
            if sum(commitment.commitment) == stake:
                break
            check(time.monotonic() < deadline, "block commitment: the vote never landed", commitment)
            await asyncio.sleep(0.2)

        await wait_for("account notifications", lambda: 1_000_005 in seen["account"])
        check(1_000_000 in seen["account"], "account notifications", seen["account"])
        signatures = [str(s) for s in (airdrop, v0_signature, legacy_signature)]
        await wait_for("logs notifications", lambda: all(s in seen["logs"] for s in signatures))
        await wait_for("block notifications", lambda: all(s in seen["block"] for s in signatures))
        await wait_for("root notifications", lambda: seen["root"] > 0)
        check(seen["slot"] > 0 and seen["slot_update"] > 0, "slot notifications", seen)
    await client.close()
    summary = {k: (len(v) if isinstance(v, list) else v) for k, v in seen.items()}
    print(json.dumps({"ok": True, **summary}))


if __name__ == "__main__":
    check(len(sys.argv) == 3, "usage: python solana_py.py <rpc url> <ws url>")
    asyncio.run(main(sys.argv[1], sys.argv[2]))
