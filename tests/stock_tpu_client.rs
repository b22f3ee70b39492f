//! Agave's own QUIC TPU client (`solana-tpu-client-next`, unchanged) sends to a running node: it
//! finds the node's QUIC TPU the way it finds any leader's — the leader schedule, `getClusterNodes`'
//! `tpuQuic` and slot updates over PubSub — opens its connection with Solana's certificate and
//! ALPN, and the transfers it sends land. With the validator's identity as its stake identity, the
//! node counts it as a staked connection.

// The 3.x crate marks its API "to become Agave Unstable API" (4.x requires a newer Rust than this
// project's); it is the same client Agave's own send path uses.
#![allow(deprecated)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Options, TestValidator};
use dataplane::txn::build_transfer;
use dataplane::types::{Pubkey, Signature};
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_tpu_client_next::connection_workers_scheduler::{
    BindTarget, ConnectionWorkersSchedulerConfig, Fanout, StakeIdentity,
};
use solana_tpu_client_next::leader_updater::create_leader_updater;
use solana_tpu_client_next::transaction_batch::TransactionBatch;
use solana_tpu_client_next::ConnectionWorkersScheduler;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Runs Agave's scheduler against `node` (leaders found through its RPC and PubSub), sends
/// `wires` in one batch, and stops it once they are finalized.
async fn send_with_agaves_client(
    node: &TestValidator,
    identity: Option<StakeIdentity>,
    wires: Vec<Vec<u8>>,
) {
    let rpc = Arc::new(RpcClient::new(node.rpc_url.clone()));
    let leaders = create_leader_updater(rpc, node.ws_url.clone(), None)
        .await
        .expect("Agave's leader updater reads the schedule and tpuQuic from the node");
    let (batches, batches_rx) = mpsc::channel(4);
    let (_identity_updates, identity_rx) = watch::channel(None);
    let cancel = CancellationToken::new();
    let scheduler =
        ConnectionWorkersScheduler::new(leaders, batches_rx, identity_rx, cancel.clone());
    let config = ConnectionWorkersSchedulerConfig {
        bind: BindTarget::Address("127.0.0.1:0".parse().unwrap()),
        stake_identity: identity,
        num_connections: 2,
        skip_check_transaction_age: true,
        worker_channel_size: 4,
        max_reconnect_attempts: 4,
        leaders_fanout: Fanout {
            send: 1,
            connect: 1,
        },
    };
    let running = tokio::spawn(scheduler.run(config));
    let signatures: Vec<String> = wires
        .iter()
        .map(|w| Signature(w[1..65].try_into().unwrap()).to_string())
        .collect();
    batches
        .send(TransactionBatch::new(wires))
        .await
        .expect("the scheduler takes the batch");
    for signature in &signatures {
        let status = node.wait_finalized(signature, Duration::from_secs(30));
        assert_eq!(status["err"], serde_json::Value::Null, "{status}");
    }
    cancel.cancel();
    let stats = running
        .await
        .expect("scheduler task")
        .expect("the scheduler ran without error");
    assert!(
        stats
            .successfully_sent
            .load(std::sync::atomic::Ordering::Relaxed)
            >= signatures.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agaves_tpu_client_finds_the_quic_tpu_and_lands_transfers() {
    let node = TestValidator::start(Options::default());
    let bob = Pubkey([5; 32]);
    let before = node.balance(&bob);
    let blockhash = node.blockhash();
    let wires: Vec<Vec<u8>> = (0..3)
        .map(|n| build_transfer(&node.accounts[0], &bob, 1_000 + n, &blockhash))
        .collect();
    send_with_agaves_client(&node, None, wires).await;
    assert_eq!(node.balance(&bob), before + 1_000 + 1_001 + 1_002);
    assert!(node.metric("blackbook_tpu_quic_transactions_total") >= 3);

    // Its stake identity (the validator's own key, staked in genesis) makes it a staked peer.
    let identity_path = node.dir.path().join("identity.json");
    let keypair = solana_sdk::signature::read_keypair_file(&identity_path).unwrap();
    let wire = build_transfer(&node.accounts[1], &bob, 7, &node.blockhash());
    send_with_agaves_client(&node, Some(StakeIdentity::new(&keypair)), vec![wire]).await;
    assert!(node.metric("blackbook_tpu_quic_staked_connections_total") >= 1);
}
