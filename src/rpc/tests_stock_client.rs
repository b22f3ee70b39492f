//! The official `solana-rpc-client` against our server: it deserializes every answer into Solana's
//! own response types, so any drift in names, shapes or error data fails here.

use std::sync::atomic::Ordering;

use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::api::client_error::ErrorKind;
use solana_rpc_client::api::config::{
    RpcBlockConfig, RpcTransactionConfig, TransactionDetails, UiTransactionEncoding,
};
use solana_rpc_client::api::request::{RpcError as ClientRpcError, RpcResponseErrorData};
use solana_rpc_client::api::response::{
    EncodedTransaction, TransactionConfirmationStatus, TransactionError,
};
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::message::{v0, VersionedMessage};
use solana_sdk::pubkey::Pubkey as SolPubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::{Transaction, TransactionVersion, VersionedTransaction};
use solana_system_interface::instruction::transfer;
use solana_transaction_status_client_types::UiMessage;

use super::error::{
    NODE_UNHEALTHY, SEND_TRANSACTION_PREFLIGHT_FAILURE, SLOT_SKIPPED,
    UNSUPPORTED_TRANSACTION_VERSION,
};
use super::test_node::{
    start, BLOCKHASH, CONFIRMED_SLOT, FINALIZED_SLOT, LAMPORTS_PREFLIGHT_FAIL, PAYER_LAMPORTS,
    V0_LAMPORTS, V0_SLOT,
};

/// `(code, data)` of a JSON-RPC error as the client reports it.
fn rpc_error(e: &solana_rpc_client::api::client_error::Error) -> (i64, &RpcResponseErrorData) {
    match e.kind() {
        ErrorKind::RpcError(ClientRpcError::RpcResponseError { code, data, .. }) => (*code, data),
        other => panic!("not an RPC response error: {other:?}"),
    }
}

#[tokio::test]
async fn stock_client_reads_state_sends_and_confirms_a_transfer() {
    let node = start().await;
    let client = RpcClient::new_with_commitment(
        format!("http://{}", node.addr),
        CommitmentConfig::confirmed(),
    );
    let payer = Keypair::new_from_array([42; 32]);
    assert_eq!(payer.pubkey().to_bytes(), node.chain.payer_key().0);

    assert_eq!(client.get_version().await.unwrap().solana_core, "3.0.0");
    assert_eq!(client.get_slot().await.unwrap(), CONFIRMED_SLOT);
    assert_eq!(client.get_block_height().await.unwrap(), CONFIRMED_SLOT - 3);
    assert_eq!(
        client.get_balance(&payer.pubkey()).await.unwrap(),
        PAYER_LAMPORTS
    );
    let account = client.get_account(&payer.pubkey()).await.unwrap();
    assert_eq!(account.lamports, PAYER_LAMPORTS);
    assert_eq!(account.owner, SolPubkey::default());
    assert!(account.data.is_empty());
    let blockhash = client.get_latest_blockhash().await.unwrap();
    assert_eq!(blockhash.to_bytes(), BLOCKHASH.0);
    assert!(client
        .is_blockhash_valid(&blockhash, CommitmentConfig::processed())
        .await
        .unwrap());

    // The same transfer the node stored, built and signed by solana-sdk: ed25519 is deterministic,
    // so equal signatures mean byte-identical messages.
    let recipient = SolPubkey::new_from_array(node.chain.recipient.0);
    let ix = transfer(&payer.pubkey(), &recipient, 250);
    let tx = Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[&payer], blockhash);
    assert_eq!(
        client.get_fee_for_message(&tx.message).await.unwrap(),
        5_000
    );
    let sig = client.send_and_confirm_transaction(&tx).await.unwrap();
    assert_eq!(sig.to_string(), node.chain.transfer_signature().to_string());
    assert_eq!(
        *node.chain.submitted.lock().unwrap(),
        vec![node.chain.transfer.clone()]
    );
    let status = client.get_signature_statuses(&[sig]).await.unwrap().value[0]
        .clone()
        .unwrap();
    assert_eq!(
        status.confirmation_status,
        Some(TransactionConfirmationStatus::Finalized)
    );
    assert!(status.satisfies_commitment(CommitmentConfig::finalized()));

    let got = client
        .get_transaction(&sig, UiTransactionEncoding::Base64)
        .await
        .unwrap();
    assert_eq!(got.slot, FINALIZED_SLOT);
    let decoded = got.transaction.transaction.decode().unwrap();
    assert_eq!(decoded.signatures, tx.signatures);
    let meta = got.transaction.meta.unwrap();
    assert_eq!((meta.fee, meta.err), (5_000, None));
    let json = client
        .get_transaction(&sig, UiTransactionEncoding::Json)
        .await
        .unwrap();
    assert!(matches!(
        json.transaction.transaction,
        EncodedTransaction::Json(_)
    ));
    let parsed = client
        .get_transaction_with_config(
            &sig,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::JsonParsed),
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .unwrap();
    assert!(parsed.transaction.version.is_some());

    let block = client.get_block(FINALIZED_SLOT).await.unwrap();
    assert_eq!(block.blockhash, BLOCKHASH.to_string());
    assert_eq!(block.transactions.len(), 1);
    let sigs_only = client
        .get_block_with_config(
            FINALIZED_SLOT,
            RpcBlockConfig {
                transaction_details: Some(TransactionDetails::Signatures),
                ..RpcBlockConfig::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(sigs_only.signatures, Some(vec![sig.to_string()]));

    let epoch = client.get_epoch_info().await.unwrap();
    assert_eq!(epoch.absolute_slot, CONFIRMED_SLOT);
    assert_eq!(epoch.transaction_count, Some(77));
    client.get_health().await.unwrap();
    assert_eq!(client.get_genesis_hash().await.unwrap().to_bytes(), [5; 32]);
    assert_eq!(client.get_identity().await.unwrap().to_bytes(), [4; 32]);
    assert_eq!(client.get_transaction_count().await.unwrap(), 77);
    assert_eq!(
        client
            .get_minimum_balance_for_rent_exemption(0)
            .await
            .unwrap(),
        0
    );
    let airdrop = client
        .request_airdrop(&recipient, 1_000_000_000)
        .await
        .unwrap();
    assert_eq!(airdrop.as_ref(), &[9u8; 64]);
}

#[tokio::test]
async fn stock_client_sends_a_v0_transfer_and_reads_it_back_as_version_0() {
    let node = start().await;
    let client = RpcClient::new_with_commitment(
        format!("http://{}", node.addr),
        CommitmentConfig::confirmed(),
    );
    let payer = Keypair::new_from_array([42; 32]);
    let recipient = SolPubkey::new_from_array(node.chain.recipient.0);
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let ix = transfer(&payer.pubkey(), &recipient, V0_LAMPORTS);
    let message = v0::Message::try_compile(&payer.pubkey(), &[ix], &[], blockhash).unwrap();
    let tx = VersionedTransaction::try_new(VersionedMessage::V0(message), &[&payer]).unwrap();
    // solana-sdk's v0 transfer is byte for byte the one the node stored (ed25519 is deterministic).
    assert_eq!(bincode::serialize(&tx).unwrap(), node.chain.transfer_v0);
    let sig = client.send_transaction(&tx).await.unwrap();
    assert_eq!(
        sig.to_string(),
        node.chain.transfer_v0_signature().to_string()
    );
    assert_eq!(
        node.chain.submitted.lock().unwrap().last(),
        Some(&node.chain.transfer_v0)
    );

    let with_max = |encoding| RpcTransactionConfig {
        encoding: Some(encoding),
        commitment: Some(CommitmentConfig::confirmed()),
        max_supported_transaction_version: Some(0),
    };
    let got = client
        .get_transaction_with_config(&sig, with_max(UiTransactionEncoding::Json))
        .await
        .unwrap();
    assert_eq!(got.slot, V0_SLOT);
    assert_eq!(got.transaction.version, Some(TransactionVersion::Number(0)));
    let EncodedTransaction::Json(ui) = &got.transaction.transaction else {
        panic!("not JSON: {:?}", got.transaction.transaction);
    };
    let UiMessage::Raw(raw) = &ui.message else {
        panic!("not a raw message: {:?}", ui.message);
    };
    assert_eq!(raw.address_table_lookups, Some(vec![]));
    assert_eq!(raw.account_keys[1], recipient.to_string());
    let parsed = client
        .get_transaction_with_config(&sig, with_max(UiTransactionEncoding::JsonParsed))
        .await
        .unwrap();
    let EncodedTransaction::Json(ui) = &parsed.transaction.transaction else {
        panic!("not JSON: {:?}", parsed.transaction.transaction);
    };
    assert!(matches!(&ui.message, UiMessage::Parsed(m) if m.address_table_lookups == Some(vec![])));
    let binary = client
        .get_transaction_with_config(&sig, with_max(UiTransactionEncoding::Base64))
        .await
        .unwrap();
    assert_eq!(binary.transaction.transaction.decode(), Some(tx.clone()));

    // Without the parameter the client gets Solana's -32015, as from a Solana node.
    let e = client
        .get_transaction(&sig, UiTransactionEncoding::Json)
        .await
        .unwrap_err();
    assert_eq!(rpc_error(&e).0, UNSUPPORTED_TRANSACTION_VERSION);
    let e = client.get_block(V0_SLOT).await.unwrap_err();
    assert_eq!(rpc_error(&e).0, UNSUPPORTED_TRANSACTION_VERSION);
    let block = client
        .get_block_with_config(
            V0_SLOT,
            RpcBlockConfig {
                max_supported_transaction_version: Some(0),
                ..RpcBlockConfig::default()
            },
        )
        .await
        .unwrap();
    let txs = block.transactions.unwrap();
    assert_eq!(txs[0].version, Some(TransactionVersion::Number(0)));
}

#[tokio::test]
async fn stock_client_understands_our_error_data() {
    let node = start().await;
    let client = RpcClient::new(format!("http://{}", node.addr));
    let payer = Keypair::new_from_array([42; 32]);
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let ix = transfer(
        &payer.pubkey(),
        &SolPubkey::new_from_array([3; 32]),
        LAMPORTS_PREFLIGHT_FAIL,
    );
    let tx = Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[&payer], blockhash);
    let e = client.send_transaction(&tx).await.unwrap_err();
    let (code, data) = rpc_error(&e);
    assert_eq!(code, SEND_TRANSACTION_PREFLIGHT_FAILURE);
    let RpcResponseErrorData::SendTransactionPreflightFailure(sim) = data else {
        panic!("preflight data not parsed: {data:?}");
    };
    assert_eq!(
        sim.err.clone().map(TransactionError::from),
        Some(TransactionError::BlockhashNotFound)
    );

    let e = client.get_block(9).await.unwrap_err();
    assert_eq!(rpc_error(&e).0, SLOT_SKIPPED);

    node.chain.healthy.store(false, Ordering::Relaxed);
    let e = client.get_health().await.unwrap_err();
    let (code, data) = rpc_error(&e);
    assert_eq!(code, NODE_UNHEALTHY);
    assert!(matches!(
        data,
        RpcResponseErrorData::NodeUnhealthy {
            num_slots_behind: None
        }
    ));
}

#[tokio::test]
async fn stock_client_quotes_priority_fees_and_reads_recent_ones() {
    use solana_compute_budget_interface::ComputeBudgetInstruction;
    let node = start().await;
    let client = RpcClient::new(format!("http://{}", node.addr));
    let payer = Keypair::new_from_array([42; 32]);
    let recipient = SolPubkey::new_from_array(node.chain.recipient.0);
    let blockhash = client.get_latest_blockhash().await.unwrap();
    // solana-sdk's own Compute Budget instructions: 301 units at 10,000 micro-lamports (4 lamports).
    let ixs = [
        ComputeBudgetInstruction::set_compute_unit_limit(301),
        ComputeBudgetInstruction::set_compute_unit_price(10_000),
        transfer(&payer.pubkey(), &recipient, 9),
    ];
    let tx = Transaction::new_signed_with_payer(&ixs, Some(&payer.pubkey()), &[&payer], blockhash);
    assert_eq!(
        client.get_fee_for_message(&tx.message).await.unwrap(),
        5_000 + 4
    );
    client.send_transaction(&tx).await.unwrap();
    // A duplicate price is Solana's DuplicateInstruction, as the client reads it.
    let twice = [
        ComputeBudgetInstruction::set_compute_unit_price(1),
        ComputeBudgetInstruction::set_compute_unit_price(2),
        transfer(&payer.pubkey(), &recipient, 9),
    ];
    let tx =
        Transaction::new_signed_with_payer(&twice, Some(&payer.pubkey()), &[&payer], blockhash);
    let e = client.send_transaction(&tx).await.unwrap_err();
    let (code, data) = rpc_error(&e);
    assert_eq!(code, SEND_TRANSACTION_PREFLIGHT_FAILURE);
    let RpcResponseErrorData::SendTransactionPreflightFailure(sim) = data else {
        panic!("preflight data not parsed: {data:?}");
    };
    assert_eq!(
        sim.err.clone().map(TransactionError::from),
        Some(TransactionError::DuplicateInstruction(1))
    );

    let fees = client.get_recent_prioritization_fees(&[]).await.unwrap();
    let pairs: Vec<(u64, u64)> = fees
        .iter()
        .map(|f| (f.slot, f.prioritization_fee))
        .collect();
    assert_eq!(pairs, vec![(V0_SLOT, 0), (FINALIZED_SLOT, 5_000)]);
    let fees = client
        .get_recent_prioritization_fees(&[payer.pubkey()])
        .await
        .unwrap();
    assert_eq!(fees[1].prioritization_fee, 20_000);
}

#[tokio::test]
async fn stock_client_reads_accounts_supply_and_ledger_bounds() {
    use super::test_node::SUPPLY_LAMPORTS;
    let node = start().await;
    let client = RpcClient::new(format!("http://{}", node.addr));
    let payer = SolPubkey::new_from_array(node.chain.payer_key().0);
    let missing = SolPubkey::new_from_array([0x77; 32]);
    let accounts = client
        .get_multiple_accounts(&[missing, payer])
        .await
        .unwrap();
    assert!(accounts[0].is_none());
    assert_eq!(accounts[1].as_ref().unwrap().lamports, PAYER_LAMPORTS);
    let supply = client.supply().await.unwrap().value;
    assert_eq!(
        (supply.total, supply.circulating, supply.non_circulating),
        (SUPPLY_LAMPORTS, SUPPLY_LAMPORTS, 0)
    );
    assert!(supply.non_circulating_accounts.is_empty());
    assert_eq!(
        client.get_block_time(FINALIZED_SLOT).await.unwrap(),
        1_700_000_000
    );
    assert_eq!(client.get_first_available_block().await.unwrap(), V0_SLOT);
    assert_eq!(client.minimum_ledger_slot().await.unwrap(), V0_SLOT);
    let largest = client
        .get_largest_accounts_with_config(Default::default())
        .await
        .unwrap();
    assert_eq!(largest.value[0].lamports, PAYER_LAMPORTS);
    assert_eq!(largest.value[0].address, payer.to_string());
    let production = client.get_block_production().await.unwrap().value;
    assert_eq!(production.range.first_slot, 0);
    assert_eq!(production.range.last_slot, FINALIZED_SLOT);
    assert_eq!(
        production.by_identity[&SolPubkey::new_from_array([4; 32]).to_string()],
        (7, 2)
    );
    assert_eq!(
        client.get_blocks(0, None).await.unwrap(),
        vec![V0_SLOT, FINALIZED_SLOT]
    );
    assert_eq!(
        client.get_blocks_with_limit(9, 1).await.unwrap(),
        vec![FINALIZED_SLOT]
    );
    let e = client.get_highest_snapshot_slot().await.unwrap_err();
    assert_eq!(rpc_error(&e).0, super::error::NO_SNAPSHOT);
}

#[tokio::test]
async fn stock_client_lists_an_addresss_signatures_newest_first_and_pages() {
    use solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
    let node = start().await;
    let client = RpcClient::new_with_commitment(
        format!("http://{}", node.addr),
        CommitmentConfig::confirmed(),
    );
    let payer = SolPubkey::new_from_array(node.chain.payer_key().0);
    let legacy = node.chain.transfer_signature().to_string();
    let v0 = node.chain.transfer_v0_signature().to_string();
    // The client names no commitment by default: the server's default, finalized, applies.
    let listed = client.get_signatures_for_address(&payer).await.unwrap();
    let sigs: Vec<&str> = listed.iter().map(|s| s.signature.as_str()).collect();
    assert_eq!(sigs, [legacy.as_str(), v0.as_str()]);
    assert_eq!(listed[0].slot, FINALIZED_SLOT);
    assert_eq!(listed[0].block_time, Some(1_700_000_000));
    assert_eq!(listed[0].err, None);
    assert_eq!(listed[0].memo, None);
    assert_eq!(
        listed[0].confirmation_status,
        Some(TransactionConfirmationStatus::Finalized)
    );
    let confirmed = client
        .get_signatures_for_address_with_config(
            &payer,
            GetConfirmedSignaturesForAddress2Config {
                commitment: Some(CommitmentConfig::confirmed()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(confirmed.len(), 3);
    assert_eq!(confirmed[0].slot, CONFIRMED_SLOT);
    assert!(confirmed[0].err.is_some());
    assert_eq!(
        confirmed[0].confirmation_status,
        Some(TransactionConfirmationStatus::Confirmed)
    );
    let page = client
        .get_signatures_for_address_with_config(
            &payer,
            GetConfirmedSignaturesForAddress2Config {
                before: Some(legacy.parse().unwrap()),
                until: None,
                limit: Some(5),
                commitment: Some(CommitmentConfig::finalized()),
            },
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].signature, v0);
    assert_eq!(page[0].slot, V0_SLOT);
}

#[tokio::test]
async fn stock_client_reads_performance_samples() {
    use super::test_node::PROCESSED_SLOT;
    let node = start().await;
    let client = RpcClient::new(format!("http://{}", node.addr));
    let samples = client.get_recent_performance_samples(None).await.unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[0].slot, PROCESSED_SLOT);
    assert_eq!(samples[0].num_transactions, 120);
    assert_eq!(samples[0].num_non_vote_transactions, Some(100));
    assert_eq!(samples[0].num_slots, 2);
    assert_eq!(samples[0].sample_period_secs, 60);
    let newest = client
        .get_recent_performance_samples(Some(1))
        .await
        .unwrap();
    assert_eq!(newest, samples[..1]);
}
