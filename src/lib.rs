//! BlackBook's node: the command line, configuration, node wiring, JSON-RPC, metrics, local cluster,
//! load generator and wallet, on top of the `dataplane` and `controlplane` crates.

pub mod chain;
pub mod cli;
pub mod cluster_view;
pub mod config;
pub mod control;
pub mod ledger_keeper;
pub mod loadgen;
pub mod localnet;
pub mod metrics;
pub mod node;
pub mod perf_samples;
pub mod repair_service;
pub mod replication;
pub mod rpc;
pub mod rpc_client;
pub mod simulate;
pub mod tpu_quic;
pub mod wallet;
