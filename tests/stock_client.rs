//! A stock Solana client library (`solana-rpc-client` + `solana-sdk`, unchanged) drives a running node:
//! airdrop, build/sign/send/confirm a System Program transfer (legacy and v0), read balances, the
//! transaction, an address's history and performance samples, and simulate without committing.

mod common;

use std::time::{Duration, Instant};

use common::{Options, TestValidator, ACCOUNT_LAMPORTS};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::rpc_client::{GetConfirmedSignaturesForAddress2Config, RpcClient};
use solana_rpc_client_api::client_error::ErrorKind;
use solana_rpc_client_api::config::{
    RpcBlockConfig, RpcSendTransactionConfig, RpcSimulateTransactionAccountsConfig,
    RpcSimulateTransactionConfig, RpcTransactionConfig,
};
use solana_rpc_client_api::request::{RpcError, RpcRequest};
use solana_rpc_client_api::response::RpcBlockCommitment;
use solana_sdk::message::{v0, AddressLookupTableAccount, VersionedMessage};
use solana_sdk::native_token::LAMPORTS_PER_SOL;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::{Transaction, TransactionVersion, VersionedTransaction};
use solana_system_interface::instruction as system_instruction;
use solana_transaction_status_client_types::{
    EncodedTransaction, UiMessage, UiTransactionEncoding,
};

fn wait_for_status(client: &RpcClient, sig: &solana_sdk::signature::Signature) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = client.get_signature_status(sig).unwrap() {
            status.unwrap();
            return;
        }
        assert!(Instant::now() < deadline, "airdrop {sig} not confirmed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn stock_solana_client_airdrops_transfers_and_reads_balances() {
    let node = TestValidator::start(Options::default());
    let client =
        RpcClient::new_with_commitment(node.rpc_url.clone(), CommitmentConfig::confirmed());

    let version = client.get_version().unwrap();
    assert!(!version.solana_core.is_empty());
    let genesis_hash = client.get_genesis_hash().unwrap();
    assert_eq!(genesis_hash.to_string(), node.genesis.hash().to_string());

    let alice = Keypair::new();
    let bob = Keypair::new();
    let airdrop = client
        .request_airdrop(&alice.pubkey(), 2 * LAMPORTS_PER_SOL)
        .unwrap();
    wait_for_status(&client, &airdrop);
    assert_eq!(
        client.get_balance(&alice.pubkey()).unwrap(),
        2 * LAMPORTS_PER_SOL
    );

    let blockhash = client.get_latest_blockhash().unwrap();
    let ix = system_instruction::transfer(&alice.pubkey(), &bob.pubkey(), 1_234_567);
    let tx = Transaction::new_signed_with_payer(&[ix], Some(&alice.pubkey()), &[&alice], blockhash);
    let transfer_sig = client.send_and_confirm_transaction(&tx).unwrap();

    assert_eq!(client.get_balance(&bob.pubkey()).unwrap(), 1_234_567);
    assert_eq!(
        client.get_balance(&alice.pubkey()).unwrap(),
        2 * LAMPORTS_PER_SOL - 1_234_567 - 5_000
    );

    // getTransaction's default commitment is finalized, as on Solana: a transfer just confirmed
    // is asked for at confirmed.
    let at_confirmed = |encoding| RpcTransactionConfig {
        encoding: Some(encoding),
        commitment: Some(CommitmentConfig::confirmed()),
        max_supported_transaction_version: None,
    };
    let fetched = client
        .get_transaction_with_config(&transfer_sig, at_confirmed(UiTransactionEncoding::Json))
        .unwrap();
    let meta = fetched.transaction.meta.expect("meta");
    assert_eq!(meta.fee, 5_000);
    assert!(meta.err.is_none());
    assert_eq!(meta.pre_balances[0], 2 * LAMPORTS_PER_SOL);
    assert_eq!(meta.post_balances[1], 1_234_567);
    let binary = client
        .get_transaction_with_config(&transfer_sig, at_confirmed(UiTransactionEncoding::Base64))
        .unwrap();
    let decoded = binary
        .transaction
        .transaction
        .decode()
        .expect("decodable transaction");
    assert_eq!(decoded.signatures[0], transfer_sig);
    assert_eq!(decoded.message.static_account_keys()[1], bob.pubkey());

    // Preflight simulates like Solana's does: an unfundable transfer is refused before inclusion…
    let blockhash = client.get_latest_blockhash().unwrap();
    let too_much =
        system_instruction::transfer(&bob.pubkey(), &alice.pubkey(), 10 * LAMPORTS_PER_SOL);
    let tx =
        Transaction::new_signed_with_payer(&[too_much], Some(&bob.pubkey()), &[&bob], blockhash);
    let err = client.send_and_confirm_transaction(&tx).unwrap_err();
    assert!(format!("{err:?}").contains("InstructionError"), "{err:?}");
    assert_eq!(client.get_balance(&bob.pubkey()).unwrap(), 1_234_567);

    // …and with preflight skipped it is included as failed, still paying its fee.
    let failed = client
        .send_transaction_with_config(
            &tx,
            RpcSendTransactionConfig {
                skip_preflight: true,
                ..RpcSendTransactionConfig::default()
            },
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = client.get_signature_status(&failed).unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "failed transfer never landed");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        format!("{status:?}").contains("InstructionError"),
        "{status:?}"
    );
    assert_eq!(
        client.get_balance(&bob.pubkey()).unwrap(),
        1_234_567 - 5_000
    );
    assert_eq!(
        client.get_balance(&alice.pubkey()).unwrap(),
        2 * LAMPORTS_PER_SOL - 1_234_567 - 5_000
    );

    // Alice's history, newest first: the failed transfer to her, her transfer, the airdrop.
    let listed = |address: solana_sdk::pubkey::Pubkey, config| {
        client
            .get_signatures_for_address_with_config(&address, config)
            .unwrap()
    };
    let confirmed = || GetConfirmedSignaturesForAddress2Config {
        commitment: Some(CommitmentConfig::confirmed()),
        ..GetConfirmedSignaturesForAddress2Config::default()
    };
    let history = listed(alice.pubkey(), confirmed());
    let sigs: Vec<String> = history.iter().map(|s| s.signature.clone()).collect();
    assert_eq!(
        sigs,
        [
            failed.to_string(),
            transfer_sig.to_string(),
            airdrop.to_string()
        ]
    );
    assert!(history[0].err.is_some(), "{history:?}");
    assert!(history[1].err.is_none(), "{history:?}");
    assert!(history.windows(2).all(|w| w[0].slot >= w[1].slot));
    assert!(history.iter().all(|s| s.block_time.is_some()));
    assert!(history.iter().all(|s| s.confirmation_status.is_some()));
    // Paging from the newest, and a window bounded by until.
    let page = listed(
        alice.pubkey(),
        GetConfirmedSignaturesForAddress2Config {
            before: Some(failed),
            limit: Some(1),
            ..confirmed()
        },
    );
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].signature, transfer_sig.to_string());
    let window = listed(
        alice.pubkey(),
        GetConfirmedSignaturesForAddress2Config {
            until: Some(airdrop),
            ..confirmed()
        },
    );
    assert_eq!(window.len(), 2);
    // Bob's: the same two transfers; the System program they call is not indexed.
    assert_eq!(listed(bob.pubkey(), confirmed()).len(), 2);
    let system = solana_sdk::pubkey::Pubkey::default();
    assert!(listed(system, confirmed()).is_empty());

    let epoch = client.get_epoch_info().unwrap();
    assert!(epoch.absolute_slot > 0);
    let slot = client.get_slot().unwrap();
    assert!(slot >= epoch.absolute_slot.saturating_sub(5));

    // How firmly a block is voted, by the towers in the processed head's bank: once the node's vote
    // on it has landed in a block (a slot or so after it is confirmed here), the node's stake, the
    // cluster's only, counts at one lockout depth or as rooted. A block past the head is not known.
    let staked: u64 = client
        .get_vote_accounts()
        .unwrap()
        .current
        .iter()
        .map(|v| v.activated_stake)
        .sum();
    assert!(staked > 0);
    // The crate's typed call is gone from the 3.x client; its request and answer types remain.
    let block_commitment = |slot: u64| -> RpcBlockCommitment<[u64; 32]> {
        let request = RpcRequest::Custom {
            method: "getBlockCommitment",
        };
        client
            .send(request, serde_json::json!([slot]))
            .expect("getBlockCommitment")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let voted_on = client.get_slot().unwrap().saturating_sub(2);
        let commitment = block_commitment(voted_on);
        assert_eq!(commitment.total_stake, staked);
        let voted: Option<u64> = commitment.commitment.map(|d| d.iter().sum());
        if voted == Some(staked) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slot {voted_on}: {voted:?} of {staked} stake"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let ahead = block_commitment(slot + 1_000_000);
    assert!(ahead.commitment.is_none());

    // The node's first performance sample covers its first seconds (later ones a minute each).
    let deadline = Instant::now() + Duration::from_secs(30);
    let samples = loop {
        let samples = client.get_recent_performance_samples(None).unwrap();
        if !samples.is_empty() {
            break samples;
        }
        assert!(Instant::now() < deadline, "no performance sample yet");
        std::thread::sleep(Duration::from_millis(250));
    };
    let first = samples.last().unwrap();
    assert!((5..60).contains(&first.sample_period_secs), "{first:?}");
    assert!(
        first.num_slots > 0 && first.slot >= first.num_slots,
        "{first:?}"
    );
    let non_vote = first.num_non_vote_transactions.expect("non-vote count");
    assert!(non_vote <= first.num_transactions, "{first:?}");
    assert!(samples.windows(2).all(|w| w[0].slot >= w[1].slot));
}

/// The JSON-RPC error code of a client error (panics on transport errors).
fn rpc_code(e: &solana_rpc_client_api::client_error::Error) -> i64 {
    match e.kind() {
        ErrorKind::RpcError(RpcError::RpcResponseError { code, .. }) => *code,
        other => panic!("not an RPC response error: {other:?}"),
    }
}

#[test]
fn stock_solana_client_sends_a_v0_transfer_and_reads_it_back_as_version_0() {
    let node = TestValidator::start(Options::default());
    let client =
        RpcClient::new_with_commitment(node.rpc_url.clone(), CommitmentConfig::confirmed());
    let alice = Keypair::new_from_array(node.accounts[0].to_bytes());
    let bob = Keypair::new();

    let blockhash = client.get_latest_blockhash().unwrap();
    let ix = system_instruction::transfer(&alice.pubkey(), &bob.pubkey(), 777);
    let message = v0::Message::try_compile(&alice.pubkey(), &[ix], &[], blockhash).unwrap();
    let tx = VersionedTransaction::try_new(VersionedMessage::V0(message), &[&alice]).unwrap();
    let sig = client.send_and_confirm_transaction(&tx).unwrap();
    assert_eq!(client.get_balance(&bob.pubkey()).unwrap(), 777);
    assert_eq!(
        client.get_balance(&alice.pubkey()).unwrap(),
        ACCOUNT_LAMPORTS - 777 - 5_000
    );

    let with_max = |encoding| RpcTransactionConfig {
        encoding: Some(encoding),
        commitment: Some(CommitmentConfig::confirmed()),
        max_supported_transaction_version: Some(0),
    };
    let got = client
        .get_transaction_with_config(&sig, with_max(UiTransactionEncoding::Json))
        .unwrap();
    assert_eq!(got.transaction.version, Some(TransactionVersion::Number(0)));
    assert_eq!(got.transaction.meta.as_ref().map(|m| m.fee), Some(5_000));
    let EncodedTransaction::Json(ui) = &got.transaction.transaction else {
        panic!("not JSON: {:?}", got.transaction.transaction);
    };
    let UiMessage::Raw(raw) = &ui.message else {
        panic!("not a raw message: {:?}", ui.message);
    };
    assert_eq!(raw.address_table_lookups, Some(vec![]));
    let binary = client
        .get_transaction_with_config(&sig, with_max(UiTransactionEncoding::Base64))
        .unwrap();
    assert_eq!(binary.transaction.transaction.decode(), Some(tx.clone()));

    // A client that does not say it reads v0 gets Solana's -32015, for the block too.
    let without_max = RpcTransactionConfig {
        max_supported_transaction_version: None,
        ..with_max(UiTransactionEncoding::Json)
    };
    let e = client
        .get_transaction_with_config(&sig, without_max)
        .unwrap_err();
    assert_eq!(rpc_code(&e), -32015, "{e:?}");
    let block_config = |max| RpcBlockConfig {
        encoding: Some(UiTransactionEncoding::Base64),
        commitment: Some(CommitmentConfig::confirmed()),
        max_supported_transaction_version: max,
        ..RpcBlockConfig::default()
    };
    let e = client
        .get_block_with_config(got.slot, block_config(None))
        .unwrap_err();
    assert_eq!(rpc_code(&e), -32015, "{e:?}");
    let block = client
        .get_block_with_config(got.slot, block_config(Some(0)))
        .unwrap();
    let ours = block
        .transactions
        .unwrap()
        .into_iter()
        .find(|t| {
            t.transaction
                .decode()
                .is_some_and(|d| d.signatures[0] == sig)
        })
        .expect("the v0 transfer in its block");
    assert_eq!(ours.version, Some(TransactionVersion::Number(0)));

    // A v0 message that loads an account from a lookup table is refused, saying why.
    let table = AddressLookupTableAccount {
        key: Keypair::new().pubkey(),
        addresses: vec![bob.pubkey()],
    };
    let blockhash = client.get_latest_blockhash().unwrap();
    let ix = system_instruction::transfer(&alice.pubkey(), &bob.pubkey(), 1);
    let message = v0::Message::try_compile(&alice.pubkey(), &[ix], &[table], blockhash).unwrap();
    assert_eq!(message.address_table_lookups.len(), 1);
    let tx = VersionedTransaction::try_new(VersionedMessage::V0(message), &[&alice]).unwrap();
    let e = client.send_transaction(&tx).unwrap_err();
    assert_eq!(rpc_code(&e), -32602, "{e:?}");
    assert!(
        e.to_string()
            .contains("address lookup tables are not supported"),
        "{e}"
    );
    assert_eq!(client.get_balance(&bob.pubkey()).unwrap(), 777);
}

#[test]
fn stock_solana_client_pays_a_priority_fee_set_with_compute_budget_instructions() {
    use solana_compute_budget_interface::ComputeBudgetInstruction;
    let node = TestValidator::start(Options::default());
    let client =
        RpcClient::new_with_commitment(node.rpc_url.clone(), CommitmentConfig::confirmed());
    let alice = Keypair::new();
    let bob = Keypair::new();
    let airdrop = client
        .request_airdrop(&alice.pubkey(), LAMPORTS_PER_SOL)
        .unwrap();
    wait_for_status(&client, &airdrop);

    // As a wallet builds it: a limit and a price first, then the transfer. 450 units at
    // 123,457 micro-lamports each = 55.56 lamports, charged as 56.
    let blockhash = client.get_latest_blockhash().unwrap();
    let ixs = [
        ComputeBudgetInstruction::set_compute_unit_limit(450),
        ComputeBudgetInstruction::set_compute_unit_price(123_457),
        system_instruction::transfer(&alice.pubkey(), &bob.pubkey(), 1_000),
    ];
    let tx = Transaction::new_signed_with_payer(&ixs, Some(&alice.pubkey()), &[&alice], blockhash);
    let fee = 5_000 + 56;
    assert_eq!(client.get_fee_for_message(&tx.message).unwrap(), fee);
    // Simulated first, as a wallet does: three builtin instructions of 150 units each.
    let sim = client
        .simulate_transaction_with_config(
            &tx,
            RpcSimulateTransactionConfig {
                sig_verify: true,
                commitment: Some(CommitmentConfig::processed()),
                accounts: Some(RpcSimulateTransactionAccountsConfig {
                    encoding: None,
                    addresses: vec![bob.pubkey().to_string()],
                }),
                ..RpcSimulateTransactionConfig::default()
            },
        )
        .unwrap()
        .value;
    assert_eq!(sim.err, None, "{sim:?}");
    assert_eq!(sim.units_consumed, Some(450));
    assert_eq!(sim.fee, Some(fee));
    assert_eq!(sim.logs.as_ref().map(Vec::len), Some(6));
    let accounts = sim.accounts.expect("accounts");
    assert_eq!(accounts[0].as_ref().map(|a| a.lamports), Some(1_000));
    // With a stale blockhash, replaced by the node's.
    let stale = Transaction::new_signed_with_payer(
        &ixs,
        Some(&alice.pubkey()),
        &[&alice],
        solana_sdk::hash::Hash::new_from_array([9; 32]),
    );
    let sim = client
        .simulate_transaction_with_config(
            &stale,
            RpcSimulateTransactionConfig {
                replace_recent_blockhash: true,
                commitment: Some(CommitmentConfig::processed()),
                ..RpcSimulateTransactionConfig::default()
            },
        )
        .unwrap()
        .value;
    assert_eq!(sim.err, None, "{sim:?}");
    assert!(sim.replacement_blockhash.is_some());
    let sig = client.send_and_confirm_transaction(&tx).unwrap();
    assert_eq!(client.get_balance(&bob.pubkey()).unwrap(), 1_000);
    assert_eq!(
        client.get_balance(&alice.pubkey()).unwrap(),
        LAMPORTS_PER_SOL - 1_000 - fee
    );
    let fetched = client
        .get_transaction_with_config(
            &sig,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::Json),
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: None,
            },
        )
        .unwrap();
    assert_eq!(fetched.transaction.meta.expect("meta").fee, fee);

    // The slot that holds it reports its price for alice's account (and at least it overall).
    let fees = client
        .get_recent_prioritization_fees(&[alice.pubkey()])
        .unwrap();
    assert!(
        fees.iter()
            .any(|f| f.slot == fetched.slot && f.prioritization_fee == 123_457),
        "{fees:?}"
    );
    // Both accounts from one bank; the supply is the genesis's whatever the fees did.
    let accounts = client
        .get_multiple_accounts(&[alice.pubkey(), bob.pubkey()])
        .unwrap();
    assert_eq!(accounts[1].as_ref().map(|a| a.lamports), Some(1_000));
    let supply = client.supply().unwrap().value;
    assert_eq!(Some(supply.total), node.genesis.total_supply());
    assert_eq!(client.get_first_available_block().unwrap(), 0);
    // The block holding the transfer is listed at confirmed; the genesis block opens the ledger.
    let blocks = client
        .get_blocks_with_commitment(
            fetched.slot.saturating_sub(3),
            None,
            CommitmentConfig::confirmed(),
        )
        .unwrap();
    assert!(blocks.contains(&fetched.slot), "{blocks:?}");
    assert!(blocks.windows(2).all(|w| w[0] < w[1]), "{blocks:?}");
    let first = client
        .get_blocks_with_limit_and_commitment(0, 2, CommitmentConfig::confirmed())
        .unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0], 0);
    assert!(client.get_block_time(fetched.slot).unwrap() > 1_700_000_000);
    // At most 20 accounts, largest first, within the supply; the one validator led every block.
    let largest = client
        .get_largest_accounts_with_config(Default::default())
        .unwrap()
        .value;
    assert!(!largest.is_empty() && largest.len() <= 20, "{largest:?}");
    assert!(largest.windows(2).all(|w| w[0].lamports >= w[1].lamports));
    let listed: u64 = largest.iter().map(|a| a.lamports).sum();
    assert!(listed <= supply.total);
    let production = client
        .get_block_production_with_config(Default::default())
        .unwrap()
        .value;
    assert_eq!(production.by_identity.len(), 1, "{production:?}");
    let (leader_slots, produced) = *production.by_identity.values().next().unwrap();
    assert!(produced > 0 && produced <= leader_slots, "{production:?}");

    // A price paid twice is Solana's DuplicateInstruction and is not charged.
    let blockhash = client.get_latest_blockhash().unwrap();
    let twice = [
        ComputeBudgetInstruction::set_compute_unit_price(1),
        ComputeBudgetInstruction::set_compute_unit_price(1),
        system_instruction::transfer(&alice.pubkey(), &bob.pubkey(), 1),
    ];
    let tx =
        Transaction::new_signed_with_payer(&twice, Some(&alice.pubkey()), &[&alice], blockhash);
    let err = client.send_transaction(&tx).unwrap_err();
    assert!(
        format!("{err:?}").contains("DuplicateInstruction"),
        "{err:?}"
    );
    assert_eq!(
        client.get_balance(&alice.pubkey()).unwrap(),
        LAMPORTS_PER_SOL - 1_000 - fee
    );
}

#[test]
fn stock_solana_client_simulates_on_a_real_node_without_committing() {
    let node = TestValidator::start(Options::default());
    let client =
        RpcClient::new_with_commitment(node.rpc_url.clone(), CommitmentConfig::confirmed());
    let alice = Keypair::new_from_array(node.accounts[0].to_bytes());
    let bob = Keypair::new();
    let blockhash = client.get_latest_blockhash().unwrap();
    let ix = system_instruction::transfer(&alice.pubkey(), &bob.pubkey(), 4_321);
    let tx = Transaction::new_signed_with_payer(&[ix], Some(&alice.pubkey()), &[&alice], blockhash);

    // The plain call, as wallets make it: a success with the System program's logs and units.
    let sim = client.simulate_transaction(&tx).unwrap().value;
    assert_eq!(sim.err, None, "{sim:?}");
    assert_eq!(sim.units_consumed, Some(150));
    assert_eq!(sim.fee, Some(5_000));
    let logs = sim.logs.expect("logs");
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs[1].ends_with("success"), "{logs:?}");
    // Signatures checked, and the accounts asked for as they would be after the run.
    let sim = client
        .simulate_transaction_with_config(
            &tx,
            RpcSimulateTransactionConfig {
                sig_verify: true,
                accounts: Some(RpcSimulateTransactionAccountsConfig {
                    encoding: None,
                    addresses: vec![alice.pubkey().to_string(), bob.pubkey().to_string()],
                }),
                ..RpcSimulateTransactionConfig::default()
            },
        )
        .unwrap()
        .value;
    assert_eq!(sim.err, None, "{sim:?}");
    let accounts = sim.accounts.expect("accounts");
    assert_eq!(
        accounts[0].as_ref().map(|a| a.lamports),
        Some(ACCOUNT_LAMPORTS - 4_321 - 5_000)
    );
    assert_eq!(accounts[1].as_ref().map(|a| a.lamports), Some(4_321));
    // Nothing was committed or sent.
    assert_eq!(client.get_balance(&bob.pubkey()).unwrap(), 0);
    assert_eq!(
        client.get_balance(&alice.pubkey()).unwrap(),
        ACCOUNT_LAMPORTS
    );
    assert_eq!(
        client.get_signature_status(&tx.signatures[0]).unwrap(),
        None
    );

    // A forged signature fails sigVerify with Solana's -32003…
    let mut forged = tx.clone();
    forged.signatures[0] = solana_sdk::signature::Signature::from([7u8; 64]);
    let e = client
        .simulate_transaction_with_config(
            &forged,
            RpcSimulateTransactionConfig {
                sig_verify: true,
                ..RpcSimulateTransactionConfig::default()
            },
        )
        .unwrap_err();
    assert_eq!(rpc_code(&e), -32003, "{e:?}");
    // …and a transfer of more than the payer holds fails in the result, not the call.
    let too_much =
        system_instruction::transfer(&alice.pubkey(), &bob.pubkey(), 2 * ACCOUNT_LAMPORTS);
    let tx = Transaction::new_signed_with_payer(
        &[too_much],
        Some(&alice.pubkey()),
        &[&alice],
        blockhash,
    );
    let sim = client.simulate_transaction(&tx).unwrap().value;
    assert_eq!(
        sim.err.map(|e| e.to_string()),
        Some("Error processing Instruction 0: custom program error: 0x1".to_owned())
    );
    assert!(
        sim.logs.as_ref().is_some_and(|l| l
            .last()
            .is_some_and(|l| l.ends_with("custom program error: 0x1"))),
        "{:?}",
        sim.logs
    );
    // A stale blockhash is BlockhashNotFound unless the node's replaces it.
    let stale = Transaction::new_signed_with_payer(
        &[system_instruction::transfer(
            &alice.pubkey(),
            &bob.pubkey(),
            1,
        )],
        Some(&alice.pubkey()),
        &[&alice],
        solana_sdk::hash::Hash::new_from_array([3; 32]),
    );
    let sim = client.simulate_transaction(&stale).unwrap().value;
    assert_eq!(
        sim.err.map(|e| e.to_string()),
        Some("Blockhash not found".to_owned())
    );
    let sim = client
        .simulate_transaction_with_config(
            &stale,
            RpcSimulateTransactionConfig {
                replace_recent_blockhash: true,
                ..RpcSimulateTransactionConfig::default()
            },
        )
        .unwrap()
        .value;
    assert_eq!(sim.err, None, "{sim:?}");
    let replacement = sim.replacement_blockhash.expect("replacement blockhash");
    assert!(replacement.last_valid_block_height > 0);
    assert_ne!(
        replacement.blockhash,
        solana_sdk::hash::Hash::new_from_array([3; 32]).to_string()
    );
}
