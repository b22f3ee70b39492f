//! The stock PubSub client (`solana-pubsub-client`, unchanged) against a running node: slots arrive,
//! a transfer is seen received then confirmed by `signatureSubscribe`, the receiver's account,
//! logs and block notifications follow; both on PubSub's own port and on the RPC port's upgrade.
//! Every notification must deserialize into Solana's own types (the client drops any that does not).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Options, TestValidator};
use futures_util::StreamExt;
use solana_commitment_config::CommitmentConfig;
use solana_pubsub_client::nonblocking::pubsub_client::PubsubClient;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::config::{
    RpcAccountInfoConfig, RpcBlockSubscribeConfig, RpcBlockSubscribeFilter,
    RpcSignatureSubscribeConfig, RpcTransactionLogsConfig, RpcTransactionLogsFilter,
    TransactionDetails, UiAccountEncoding,
};
use solana_rpc_client_api::response::{
    ProcessedSignatureResult, ReceivedSignatureResult, RpcSignatureResult,
};
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::Transaction;
use solana_system_interface::instruction as system_instruction;
use solana_transaction_status_client_types::UiTransactionEncoding;

/// How long any one notification may take (a few slots of 200 ms).
const WAIT: Duration = Duration::from_secs(30);

async fn next<T>(stream: &mut (impl futures_util::Stream<Item = T> + Unpin), what: &str) -> T {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap_or_else(|_| panic!("no {what} in time"))
        .unwrap_or_else(|| panic!("{what} stream ended"))
}

#[test]
fn stock_pubsub_client_confirms_a_transfer_and_sees_slots_and_accounts() {
    let node = TestValidator::start(Options::default());
    let alice = Keypair::new_from_array(node.accounts[0].to_bytes());
    let bob = Keypair::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let pubsub = PubsubClient::new(&node.ws_url).await.unwrap();
        let rpc = Arc::new(RpcClient::new_with_commitment(
            node.rpc_url.clone(),
            CommitmentConfig::confirmed(),
        ));

        let (mut slots, _unsub) = pubsub.slot_subscribe().await.unwrap();
        let mut last = 0;
        for _ in 0..3 {
            let info = next(&mut slots, "slot notification").await;
            assert!(info.slot > last, "{info:?} after {last}");
            assert!(info.parent < info.slot, "{info:?}");
            assert!(info.root <= info.slot, "{info:?}");
            last = info.slot;
        }

        let confirmed = Some(CommitmentConfig::confirmed());
        let (mut account, _unsub) = pubsub
            .account_subscribe(
                &bob.pubkey(),
                Some(RpcAccountInfoConfig {
                    encoding: Some(UiAccountEncoding::Base64),
                    commitment: confirmed,
                    ..RpcAccountInfoConfig::default()
                }),
            )
            .await
            .unwrap();
        let (mut logs, _unsub) = pubsub
            .logs_subscribe(
                RpcTransactionLogsFilter::Mentions(vec![bob.pubkey().to_string()]),
                RpcTransactionLogsConfig {
                    commitment: confirmed,
                },
            )
            .await
            .unwrap();
        let (mut blocks, _unsub) = pubsub
            .block_subscribe(
                RpcBlockSubscribeFilter::MentionsAccountOrProgram(bob.pubkey().to_string()),
                Some(RpcBlockSubscribeConfig {
                    commitment: confirmed,
                    encoding: Some(UiTransactionEncoding::Base64),
                    transaction_details: Some(TransactionDetails::Signatures),
                    show_rewards: Some(false),
                    max_supported_transaction_version: Some(0),
                }),
            )
            .await
            .unwrap();

        let blockhash = rpc.get_latest_blockhash().await.unwrap();
        let ix = system_instruction::transfer(&alice.pubkey(), &bob.pubkey(), 1_234_567);
        let tx =
            Transaction::new_signed_with_payer(&[ix], Some(&alice.pubkey()), &[&alice], blockhash);
        let sig = tx.signatures[0];
        let (mut status, _unsub) = pubsub
            .signature_subscribe(
                &sig,
                Some(RpcSignatureSubscribeConfig {
                    commitment: confirmed,
                    enable_received_notification: Some(true),
                }),
            )
            .await
            .unwrap();

        // Polls the status beside the subscription, to compare when each learns of confirmation.
        let poller = {
            let rpc = rpc.clone();
            tokio::spawn(async move {
                loop {
                    let s = rpc.get_signature_statuses(&[sig]).await.unwrap().value;
                    let done = s[0]
                        .as_ref()
                        .is_some_and(|s| s.satisfies_commitment(CommitmentConfig::confirmed()));
                    if done {
                        return Instant::now();
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        rpc.send_transaction(&tx).await.unwrap();

        let received = next(&mut status, "received notification").await;
        assert_eq!(
            received.value,
            RpcSignatureResult::ReceivedSignature(ReceivedSignatureResult::ReceivedSignature)
        );
        let done = next(&mut status, "signature notification").await;
        let notified_at = Instant::now();
        assert_eq!(
            done.value,
            RpcSignatureResult::ProcessedSignature(ProcessedSignatureResult { err: None })
        );
        let polled_at = poller.await.unwrap();
        // Positive: the notification came after polling saw the confirmation.
        let lag_ms = notified_at
            .saturating_duration_since(polled_at)
            .as_secs_f64()
            * 1e3;
        let lead_ms = polled_at
            .saturating_duration_since(notified_at)
            .as_secs_f64()
            * 1e3;
        eprintln!(
            "signature notification in slot {}: {lag_ms:.1} ms after getSignatureStatuses \
             (2 ms polling) saw it confirmed, {lead_ms:.1} ms before",
            done.context.slot
        );
        assert!(lag_ms < 100.0, "notification {lag_ms} ms behind polling");
        let tx_status = rpc.get_signature_statuses(&[sig]).await.unwrap().value[0]
            .clone()
            .expect("a status");
        assert_eq!(tx_status.slot, done.context.slot);

        let bob_account = next(&mut account, "account notification").await;
        assert_eq!(bob_account.value.lamports, 1_234_567);
        assert_eq!(
            bob_account.value.owner,
            solana_system_interface::program::ID.to_string()
        );
        let decoded = bob_account.value.decode::<solana_sdk::account::Account>();
        assert!(decoded.expect("decodable account").data.is_empty());
        assert!(bob_account.context.slot >= done.context.slot);
        assert_eq!(rpc.get_balance(&bob.pubkey()).await.unwrap(), 1_234_567);

        let log = next(&mut logs, "logs notification").await;
        assert_eq!(log.value.signature, sig.to_string());
        assert!(log.value.err.is_none());
        assert_eq!(log.context.slot, done.context.slot);

        let block = next(&mut blocks, "block notification").await;
        assert_eq!(block.value.slot, done.context.slot);
        assert!(block.value.err.is_none());
        let block = block.value.block.expect("a block");
        assert_eq!(block.signatures, Some(vec![sig.to_string()]));

        // Slots keep coming on the same connection.
        let later = next(&mut slots, "slot notification").await;
        assert!(later.slot > last);

        // PubSub on the RPC port itself, as an upgrade of GET /.
        let ws_on_rpc_port = node.rpc_url.replacen("http://", "ws://", 1);
        let upgraded = PubsubClient::new(&ws_on_rpc_port).await.unwrap();
        let (mut roots, _unsub) = upgraded.root_subscribe().await.unwrap();
        let root = next(&mut roots, "root notification").await;
        assert!(root > 0);
    });
    assert!(node.metric("blackbook_pubsub_notifications_total") > 5);
    assert_eq!(
        node.metric("blackbook_pubsub_calls_total{method=\"signatureSubscribe\"}"),
        1
    );
}
