//! The TPU over QUIC, as Solana's clients send to it: ALPN `solana-tpu`, TLS 1.3 with self-signed
//! certificates that carry each side's ed25519 identity, one transaction per unidirectional stream,
//! on the TPU port + [`QUIC_PORT_OFFSET`] by default (advertised as `tpuQuic`).
//!
//! A transaction read whole from its stream joins the UDP fetch stage's traffic at sigverify's
//! input, in batches; the rest of the pipeline cannot tell the two apart. Every bound is counted
//! when it refuses: connections in all and per source address, concurrent streams per connection
//! (QUIC flow control: a sender waits for credit rather than being dropped), bytes per stream, the
//! time a stream may take, and room in sigverify's queue.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::{Sender, TrySendError};
use dataplane::metrics::{Reject, RejectCounters};
use dataplane::packet::{PacketBatch, PacketBatchPool, PacketFlags, PACKET_DATA_SIZE};
use dataplane::types::Pubkey;
use ed25519_dalek::SigningKey;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::sync::mpsc;

pub mod forward;

/// The ALPN protocol Solana's TPU clients offer.
pub const ALPN_TPU: &[u8] = b"solana-tpu";
/// Solana's `QUIC_PORT_OFFSET`: the QUIC TPU listens on the UDP TPU port plus this.
pub const QUIC_PORT_OFFSET: u16 = 6;
/// Most QUIC connections held at once, by default (`network.tpu_quic_connections_max`).
pub const CONNECTIONS_MAX: usize = 2_048;
/// Most QUIC connections from one source address that are handshaking or unstaked (a staked
/// peer's connection stops counting once its identity is known), by default
/// (`network.tpu_quic_connections_per_ip_max`).
pub const CONNECTIONS_PER_IP_MAX: usize = 8;
/// Streams an unstaked connection may have open at once; QUIC makes a sender wait for credit.
pub const UNSTAKED_STREAMS: u32 = 32;
/// Fewest streams a staked connection gets at once, however small its stake.
pub const STAKED_STREAMS_MIN: u32 = 128;
/// Streams shared among staked connections in proportion to stake (Solana's QoS does the same),
/// over their minimum.
pub const STAKED_STREAMS_SHARED: u64 = 2_048;
/// Time a stream has to deliver its whole transaction.
const STREAM_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Time a connection may sit idle before it is closed (clients keep theirs alive below it).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Transactions read but not yet batched for sigverify.
const RECEIVED_QUEUE: usize = 8_192;
/// How long a batch holding staked transactions waits before asking sigverify's full queue again.
const STAKED_BATCH_RETRY: Duration = Duration::from_micros(250);

/// The QUIC TPU's connection caps; the default is [`CONNECTIONS_MAX`] and
/// [`CONNECTIONS_PER_IP_MAX`] (the node sets them from `[network]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuicLimits {
    /// Connections held at once.
    pub connections_max: usize,
    /// Handshaking or unstaked connections from one source address.
    pub connections_per_ip_max: usize,
}

impl Default for QuicLimits {
    fn default() -> Self {
        QuicLimits {
            connections_max: CONNECTIONS_MAX,
            connections_per_ip_max: CONNECTIONS_PER_IP_MAX,
        }
    }
}

impl QuicLimits {
    /// Unstaked connections held at once: half of `connections_max`, so that the rest is kept for
    /// staked peers (forwards, votes), which a flood of unstaked clients cannot take.
    pub fn unstaked_connections_max(&self) -> usize {
        self.connections_max / 2
    }
}

/// What the QUIC TPU has done and refused.
#[derive(Debug, Default)]
pub struct QuicStats {
    /// Connections whose handshake completed.
    pub connections_accepted: AtomicU64,
    /// Connections refused for the total cap.
    pub connections_refused: AtomicU64,
    /// Connections refused for the per-address cap.
    pub connections_refused_per_ip: AtomicU64,
    /// Unstaked connections closed after the handshake: the unstaked ones held their most.
    pub connections_refused_unstaked: AtomicU64,
    /// Unstaked connections open now.
    pub unstaked_open: AtomicUsize,
    /// Connections of staked identities accepted.
    pub staked_connections: AtomicU64,
    /// Handshakes that failed (bad TLS, wrong ALPN, timeout).
    pub handshakes_failed: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicUsize,
    /// Transactions read whole from their streams.
    pub transactions: AtomicU64,
    /// Streams longer than a transaction may be (the stream is stopped).
    pub streams_oversized: AtomicU64,
    /// Streams that failed, were reset, or took too long.
    pub streams_failed: AtomicU64,
    /// Transactions dropped because sigverify's queue was full (or, for unstaked senders, the
    /// queue of what they sent).
    pub queue_full: AtomicU64,
    /// Transactions read from staked connections.
    pub staked_transactions: AtomicU64,
    /// Connections that presented an ed25519 identity certificate.
    pub identified_connections: AtomicU64,
    /// This node's own forwarding to leaders' QUIC TPUs.
    pub forward: Arc<forward::QuicForwardStats>,
}

/// The certificate (self-signed, for `identity`) and key a QUIC TPU endpoint presents.
fn identity_certificate(
    identity: &SigningKey,
) -> anyhow::Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
    // RFC 8410's PKCS#8 v1 wrapping of an ed25519 seed: a fixed 16-byte header, then the seed.
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(&identity.to_bytes());
    let der = PrivatePkcs8KeyDer::from(pkcs8);
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519)
        .context("the identity as a certificate key")?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Solana node");
    let cert = params.self_signed(&key)?;
    Ok((cert.der().clone(), PrivateKeyDer::Pkcs8(der.clone_key())))
}

/// The ed25519 key a certificate carries, if it carries one (its SubjectPublicKeyInfo).
pub fn certificate_identity(cert: &[u8]) -> Option<Pubkey> {
    // SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING (33 bytes: no unused bits, the key) }
    const SPKI_ED25519: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    let at = cert
        .windows(SPKI_ED25519.len())
        .position(|w| w == SPKI_ED25519)?;
    let key = cert.get(at + SPKI_ED25519.len()..at + SPKI_ED25519.len() + 32)?;
    Some(Pubkey(key.try_into().ok()?))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks a handshake's signature against the certificate's key with the provider's algorithms.
/// The certificate itself is taken as it is: its key is the peer's identity, not a CA's word.
#[derive(Debug)]
struct HandshakeSignatures(Arc<CryptoProvider>);

impl HandshakeSignatures {
    fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Takes any client certificate, or none (unstaked clients may present a throwaway key), but
/// checks the handshake's signature: a client that shows a certificate holds its key.
#[derive(Debug)]
struct AnyClientCertificate(HandshakeSignatures);

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls12(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls13(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.schemes()
    }
}

/// Takes the server's self-signed certificate as Solana's clients do (the identity is what
/// matters, not a CA), checking that the server holds its key.
#[derive(Debug)]
struct AnyServerCertificate(HandshakeSignatures);

impl ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls12(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls13(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.schemes()
    }
}

/// The QUIC server configuration of a TPU whose node is `identity`.
pub fn server_config(identity: &SigningKey) -> anyhow::Result<quinn::ServerConfig> {
    let (cert, key) = identity_certificate(identity)?;
    let provider = provider();
    let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(AnyClientCertificate(HandshakeSignatures(
            provider,
        ))))
        .with_single_cert(vec![cert], key)?;
    tls.alpn_protocols = vec![ALPN_TPU.to_vec()];
    let crypto = QuicServerConfig::try_from(tls)?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    // Every connection starts with an unstaked budget; a staked one is given more once known.
    let most_streams = STAKED_STREAMS_MIN as u64 + STAKED_STREAMS_SHARED;
    transport
        .max_concurrent_uni_streams(UNSTAKED_STREAMS.into())
        .max_concurrent_bidi_streams(0u32.into())
        // One transaction per stream: a stream never needs more credit than that.
        .stream_receive_window((PACKET_DATA_SIZE as u32).into())
        .receive_window(quinn::VarInt::from_u64(
            most_streams * PACKET_DATA_SIZE as u64,
        )?)
        .max_idle_timeout(Some(IDLE_TIMEOUT.try_into()?))
        .datagram_receive_buffer_size(None);
    server.transport_config(Arc::new(transport));
    server.migration(false);
    Ok(server)
}

/// A QUIC client configuration as Solana's TPU clients have it, presenting `identity`.
pub fn client_config(identity: &SigningKey) -> anyhow::Result<quinn::ClientConfig> {
    client_config_with_alpn(identity, ALPN_TPU)
}

/// Like [`client_config`], offering the protocol `alpn` instead of `solana-tpu`.
pub fn client_config_with_alpn(
    identity: &SigningKey,
    alpn: &[u8],
) -> anyhow::Result<quinn::ClientConfig> {
    let (cert, key) = identity_certificate(identity)?;
    let provider = provider();
    let server_certificate = AnyServerCertificate(HandshakeSignatures(provider.clone()));
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(server_certificate))
        .with_client_auth_cert(vec![cert], key)?;
    tls.alpn_protocols = vec![alpn.to_vec()];
    let crypto = QuicClientConfig::try_from(tls)?;
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(IDLE_TIMEOUT / 2));
    client.transport_config(Arc::new(transport));
    Ok(client)
}

/// Where received transactions go: sigverify's input, in batches from its pool.
#[derive(Clone)]
pub struct TpuSink {
    /// Sigverify's input queue.
    pub packets: Sender<PacketBatch>,
    /// Its empty batches.
    pub pool: PacketBatchPool,
    /// Where a dropped packet is counted ([`Reject::QueueFull`]).
    pub counters: Arc<RejectCounters>,
}

/// Stake by node identity: what a connection's certificate identity is weighed by.
#[derive(Debug, Clone, Default)]
pub struct Stakes {
    by_identity: HashMap<Pubkey, u64>,
    total: u64,
}

impl Stakes {
    /// Stakes from `(identity, stake)` pairs.
    pub fn new(stakes: impl IntoIterator<Item = (Pubkey, u64)>) -> Stakes {
        let by_identity: HashMap<Pubkey, u64> =
            stakes.into_iter().filter(|(_, s)| *s > 0).collect();
        let total = by_identity.values().fold(0u64, |a, s| a.saturating_add(*s));
        Stakes { by_identity, total }
    }

    /// The streams a connection of `identity` may have open at once: [`UNSTAKED_STREAMS`]
    /// without stake, else [`STAKED_STREAMS_MIN`] plus its share of [`STAKED_STREAMS_SHARED`].
    pub fn streams_for(&self, identity: Option<&Pubkey>) -> u32 {
        let stake = identity.and_then(|i| self.by_identity.get(i)).copied();
        match stake {
            Some(stake) if self.total > 0 => {
                let share =
                    (STAKED_STREAMS_SHARED as u128 * stake as u128 / self.total as u128) as u32;
                STAKED_STREAMS_MIN + share
            }
            _ => UNSTAKED_STREAMS,
        }
    }
}

/// Connections held per source address.
type PerIp = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// A connection's place among the held ones, given back when dropped.
struct ConnectionSlot {
    /// Its source address, while it counts against that address's cap.
    ip: Option<IpAddr>,
    per_ip: PerIp,
    stats: Arc<QuicStats>,
}

impl ConnectionSlot {
    /// Stops counting the connection against its address's cap: a staked peer is known by its
    /// identity, and budgeted by stake, not by where it sends from.
    fn release_address(&mut self) {
        if let Some(ip) = self.ip.take() {
            let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.release_address();
        self.stats.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves the QUIC TPU on `endpoint`, holding at most the connections `limits` allow, until
/// `shutdown` resolves.
pub async fn serve(
    endpoint: quinn::Endpoint,
    sink: TpuSink,
    stakes: Arc<Stakes>,
    stats: Arc<QuicStats>,
    limits: QuicLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let (staked, staked_rx) = mpsc::channel(RECEIVED_QUEUE);
    let (unstaked, unstaked_rx) = mpsc::channel(RECEIVED_QUEUE);
    tokio::spawn(batch_for_sigverify(
        staked_rx,
        unstaked_rx,
        sink,
        stats.clone(),
    ));
    let queues = Queues {
        staked,
        unstaked: Some(unstaked),
    };
    accept(endpoint, queues, stakes, stats, limits, shutdown).await;
}

/// Votes read from the QUIC vote socket, with where each came from.
pub type QuicVotes = mpsc::Receiver<(Vec<u8>, SocketAddr)>;

/// Serves the QUIC vote socket on `endpoint` until `shutdown` resolves: staked validators only
/// (an unstaked connection is closed after its handshake, counted), each stream one vote
/// transaction, handed to `votes` as read (unchecked: the receiver verifies it).
pub async fn serve_votes(
    endpoint: quinn::Endpoint,
    votes: mpsc::Sender<(Vec<u8>, SocketAddr)>,
    stakes: Arc<Stakes>,
    stats: Arc<QuicStats>,
    limits: QuicLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let queues = Queues {
        staked: votes,
        unstaked: None,
    };
    accept(endpoint, queues, stakes, stats, limits, shutdown).await;
}

/// Accepts connections on `endpoint` within `limits`, each served into `queues`.
async fn accept(
    endpoint: quinn::Endpoint,
    queues: Queues,
    stakes: Arc<Stakes>,
    stats: Arc<QuicStats>,
    limits: QuicLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let per_ip: PerIp = Arc::default();
    tokio::pin!(shutdown);
    loop {
        let incoming = tokio::select! {
            _ = &mut shutdown => break,
            i = endpoint.accept() => match i {
                Some(i) => i,
                None => break,
            },
        };
        let ip = incoming.remote_address().ip();
        let Some(slot) = take_slot(ip, &per_ip, &stats, &limits) else {
            incoming.refuse();
            continue;
        };
        tokio::spawn(serve_connection(
            incoming,
            slot,
            queues.clone(),
            stakes.clone(),
            stats.clone(),
            limits.unstaked_connections_max(),
        ));
    }
    endpoint.close(0u32.into(), b"shutting down");
}

/// A place for a connection from `ip`, if `limits` leave one (each refusal counted).
fn take_slot(
    ip: IpAddr,
    per_ip: &PerIp,
    stats: &Arc<QuicStats>,
    limits: &QuicLimits,
) -> Option<ConnectionSlot> {
    if stats.connections_open.load(Ordering::Relaxed) >= limits.connections_max {
        stats.connections_refused.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    let mut held = per_ip.lock().unwrap_or_else(|e| e.into_inner());
    let n = held.entry(ip).or_insert(0);
    if *n >= limits.connections_per_ip_max {
        stats
            .connections_refused_per_ip
            .fetch_add(1, Ordering::Relaxed);
        return None;
    }
    *n += 1;
    stats.connections_open.fetch_add(1, Ordering::Relaxed);
    Some(ConnectionSlot {
        ip: Some(ip),
        per_ip: per_ip.clone(),
        stats: stats.clone(),
    })
}

/// What the streams read, kept apart by whether the sender is staked: staked traffic goes to
/// sigverify first, and an unstaked flood fills only its own queue.
#[derive(Clone)]
struct Queues {
    staked: mpsc::Sender<(Vec<u8>, SocketAddr)>,
    /// `None`: the endpoint serves staked peers only.
    unstaked: Option<mpsc::Sender<(Vec<u8>, SocketAddr)>>,
}

/// An unstaked connection's place among the unstaked ones.
struct UnstakedSlot(Arc<QuicStats>);

impl Drop for UnstakedSlot {
    fn drop(&mut self) {
        self.0.unstaked_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connection: each unidirectional stream is one transaction. An unstaked one is closed when
/// `unstaked_max` unstaked connections are open already.
async fn serve_connection(
    incoming: quinn::Incoming,
    mut slot: ConnectionSlot,
    queues: Queues,
    stakes: Arc<Stakes>,
    stats: Arc<QuicStats>,
    unstaked_max: usize,
) {
    let connection = match tokio::time::timeout(IDLE_TIMEOUT, incoming).await {
        Ok(Ok(c)) => c,
        _ => {
            stats.handshakes_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    stats.connections_accepted.fetch_add(1, Ordering::Relaxed);
    let identity = peer_identity(&connection);
    if identity.is_some() {
        stats.identified_connections.fetch_add(1, Ordering::Relaxed);
    }
    let streams = stakes.streams_for(identity.as_ref());
    let is_staked = streams > UNSTAKED_STREAMS;
    let _unstaked_slot = if is_staked {
        stats.staked_connections.fetch_add(1, Ordering::Relaxed);
        slot.release_address();
        connection.set_max_concurrent_uni_streams(streams.into());
        None
    } else {
        if queues.unstaked.is_none() {
            stats
                .connections_refused_unstaked
                .fetch_add(1, Ordering::Relaxed);
            connection.close(2u32.into(), b"staked validators only");
            return;
        }
        if stats.unstaked_open.fetch_add(1, Ordering::Relaxed) >= unstaked_max {
            stats.unstaked_open.fetch_sub(1, Ordering::Relaxed);
            stats
                .connections_refused_unstaked
                .fetch_add(1, Ordering::Relaxed);
            connection.close(1u32.into(), b"too many unstaked connections");
            return;
        }
        Some(UnstakedSlot(stats.clone()))
    };
    let received = match (is_staked, queues.unstaked) {
        (false, Some(unstaked)) => unstaked,
        _ => queues.staked,
    };
    let from = connection.remote_address();
    while let Ok(mut stream) = connection.accept_uni().await {
        let (received, stats) = (received.clone(), stats.clone());
        tokio::spawn(async move {
            let read =
                tokio::time::timeout(STREAM_READ_TIMEOUT, stream.read_to_end(PACKET_DATA_SIZE));
            match read.await {
                Ok(Ok(bytes)) if !bytes.is_empty() => {
                    stats.transactions.fetch_add(1, Ordering::Relaxed);
                    if is_staked {
                        stats.staked_transactions.fetch_add(1, Ordering::Relaxed);
                    }
                    if received.try_send((bytes, from)).is_err() {
                        stats.queue_full.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(Err(quinn::ReadToEndError::TooLong)) => {
                    stats.streams_oversized.fetch_add(1, Ordering::Relaxed);
                    let _ = stream.stop(0u32.into());
                }
                _ => {
                    stats.streams_failed.fetch_add(1, Ordering::Relaxed);
                    let _ = stream.stop(0u32.into());
                }
            }
        });
    }
}

/// The ed25519 identity of the connection's client certificate, if it showed one.
pub fn peer_identity(connection: &quinn::Connection) -> Option<Pubkey> {
    let certs = connection
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?;
    certificate_identity(certs.first()?)
}

/// Batches what the streams read and hands each batch to sigverify: whatever arrived meanwhile
/// travels together, staked senders' first.
async fn batch_for_sigverify(
    mut staked: mpsc::Receiver<(Vec<u8>, SocketAddr)>,
    mut unstaked: mpsc::Receiver<(Vec<u8>, SocketAddr)>,
    sink: TpuSink,
    stats: Arc<QuicStats>,
) {
    loop {
        let (first, mut holds_staked) = tokio::select! {
            biased;
            Some(t) = staked.recv() => (t, true),
            Some(t) = unstaked.recv() => (t, false),
            else => return,
        };
        // A staked sender is a validator forwarding what it held: mark it, so that it is not
        // forwarded again and a transaction crosses the cluster at most once.
        let mut batch = sink.pool.take();
        let first_flags = if holds_staked {
            PacketFlags::FORWARDED
        } else {
            PacketFlags::default()
        };
        batch.push_flagged(&first.0, first.1, first_flags);
        while !batch.is_full() {
            if let Ok((bytes, from)) = staked.try_recv() {
                batch.push_flagged(&bytes, from, PacketFlags::FORWARDED);
                holds_staked = true;
            } else if let Ok((bytes, from)) = unstaked.try_recv() {
                batch.push(&bytes, from);
            } else {
                break;
            }
        }
        // Sigverify full: a batch with staked traffic waits for room (its senders then wait for
        // stream credit); an unstaked one is shed here, before anything is spent verifying it.
        loop {
            match sink.packets.try_send(batch) {
                Ok(()) => break,
                Err(TrySendError::Full(b)) if holds_staked => {
                    batch = b;
                    tokio::time::sleep(STAKED_BATCH_RETRY).await;
                }
                Err(TrySendError::Full(b)) => {
                    stats
                        .queue_full
                        .fetch_add(b.len() as u64, Ordering::Relaxed);
                    sink.counters.add_n(Reject::QueueFull, b.len() as u64);
                    sink.pool.recycle(b);
                    break;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_follow_stake() {
        let (a, b, c) = (Pubkey([1; 32]), Pubkey([2; 32]), Pubkey([3; 32]));
        let stakes = Stakes::new([(a, 3_000), (b, 1_000), (c, 0)]);
        let most = STAKED_STREAMS_MIN + STAKED_STREAMS_SHARED as u32;
        assert_eq!(stakes.streams_for(Some(&a)), STAKED_STREAMS_MIN + 1_536);
        assert_eq!(stakes.streams_for(Some(&b)), STAKED_STREAMS_MIN + 512);
        assert!(stakes.streams_for(Some(&a)) <= most);
        // No stake, an unknown identity, or none: the unstaked budget.
        assert_eq!(stakes.streams_for(Some(&c)), UNSTAKED_STREAMS);
        assert_eq!(stakes.streams_for(Some(&Pubkey([9; 32]))), UNSTAKED_STREAMS);
        assert_eq!(stakes.streams_for(None), UNSTAKED_STREAMS);
        assert_eq!(Stakes::default().streams_for(Some(&a)), UNSTAKED_STREAMS);
    }

    #[test]
    fn connections_are_capped_at_the_configured_limits() {
        let limits = QuicLimits {
            connections_max: 3,
            connections_per_ip_max: 2,
        };
        let (per_ip, stats) = (PerIp::default(), Arc::new(QuicStats::default()));
        let ip = |n: u8| IpAddr::from([10, 0, 0, n]);
        let take = |n: u8| take_slot(ip(n), &per_ip, &stats, &limits);
        let a: Vec<ConnectionSlot> = (0..2).map(|_| take(1).expect("within the cap")).collect();
        assert!(take(1).is_none(), "a third from one address");
        assert_eq!(stats.connections_refused_per_ip.load(Ordering::Relaxed), 1);
        let b = take(2).expect("the third of three");
        assert!(take(3).is_none(), "a fourth in all");
        assert_eq!(stats.connections_refused.load(Ordering::Relaxed), 1);
        assert_eq!(stats.connections_open.load(Ordering::Relaxed), 3);
        // Each given back makes room again, in all and for its address.
        drop(b);
        assert!(take(3).is_some());
        drop(a);
        assert_eq!(stats.connections_open.load(Ordering::Relaxed), 0);
        assert!(take(1).is_some());
        assert_eq!(limits.unstaked_connections_max(), 1);
    }

    /// A QUIC TPU on loopback with `limits`, every client unstaked; its stats.
    fn loopback_tpu(limits: QuicLimits) -> (SocketAddr, Arc<QuicStats>) {
        let endpoint = quinn::Endpoint::server(
            server_config(&SigningKey::from_bytes(&[3; 32])).unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        let addr = endpoint.local_addr().unwrap();
        let sink = TpuSink {
            packets: crossbeam_channel::bounded(4).0,
            pool: PacketBatchPool::new(1),
            counters: Arc::new(RejectCounters::default()),
        };
        let stats = Arc::new(QuicStats::default());
        let stakes = Arc::new(Stakes::default());
        let serving = serve(
            endpoint,
            sink,
            stakes,
            stats.clone(),
            limits,
            std::future::pending(),
        );
        tokio::spawn(serving);
        (addr, stats)
    }

    async fn connect(to: SocketAddr) -> Result<(quinn::Endpoint, quinn::Connection), String> {
        connect_as(&SigningKey::from_bytes(&[9; 32]), to).await
    }

    async fn connect_as(
        key: &SigningKey,
        to: SocketAddr,
    ) -> Result<(quinn::Endpoint, quinn::Connection), String> {
        let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        client.set_default_client_config(client_config(key).unwrap());
        let connecting = client
            .connect(to, "solana-tpu")
            .map_err(|e| e.to_string())?;
        let connection = tokio::time::timeout(Duration::from_secs(10), connecting)
            .await
            .map_err(|_| "handshake timed out".to_string())?
            .map_err(|e| e.to_string())?;
        Ok((client, connection))
    }

    async fn eventually(what: &str, check: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(std::time::Instant::now() < deadline, "{what}: not in time");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn the_server_holds_the_connections_its_limits_allow() {
        // One per address: the second from loopback is refused before its handshake.
        let (addr, stats) = loopback_tpu(QuicLimits {
            connections_max: 16,
            connections_per_ip_max: 1,
        });
        let _held = connect(addr).await.expect("the first");
        assert!(connect(addr).await.is_err(), "a second from one address");
        assert_eq!(stats.connections_refused_per_ip.load(Ordering::Relaxed), 1);

        // Two in all, so one unstaked: the second unstaked one is closed after its handshake.
        let (addr, stats) = loopback_tpu(QuicLimits {
            connections_max: 2,
            connections_per_ip_max: 2,
        });
        let _held = connect(addr).await.expect("the first");
        let unstaked = || stats.unstaked_open.load(Ordering::Relaxed);
        eventually("the first counted unstaked", || unstaked() == 1).await;
        if let Ok((_client, c)) = connect(addr).await {
            let closed = c.closed().await;
            assert!(
                matches!(closed, quinn::ConnectionError::ApplicationClosed(_)),
                "{closed}"
            );
        }
        assert_eq!(
            stats.connections_refused_unstaked.load(Ordering::Relaxed),
            1
        );
        assert_eq!(unstaked(), 1);
    }

    #[test]
    fn a_certificate_carries_the_identity_it_was_made_for() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let (cert, _) = identity_certificate(&key).unwrap();
        assert_eq!(
            certificate_identity(&cert),
            Some(Pubkey(key.verifying_key().to_bytes()))
        );
        assert_eq!(certificate_identity(&cert[..40]), None);
        assert_eq!(certificate_identity(b"not a certificate"), None);
    }

    #[tokio::test]
    async fn the_vote_socket_reads_staked_validators_only() {
        let validator = SigningKey::from_bytes(&[5; 32]);
        let stranger = SigningKey::from_bytes(&[6; 32]);
        let stakes = Arc::new(Stakes::new([(
            Pubkey(validator.verifying_key().to_bytes()),
            1_000,
        )]));
        let endpoint = quinn::Endpoint::server(
            server_config(&SigningKey::from_bytes(&[3; 32])).unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        let addr = endpoint.local_addr().unwrap();
        let (votes, mut received) = mpsc::channel(16);
        let stats = Arc::new(QuicStats::default());
        tokio::spawn(serve_votes(
            endpoint,
            votes,
            stakes,
            stats.clone(),
            QuicLimits::default(),
            std::future::pending(),
        ));

        // A validator's votes, sent as the node sends its own: each read whole, in order.
        let sender_stats = Arc::new(forward::QuicForwardStats::default());
        let (sender, driver) = forward::quic_forwarder(
            &validator,
            "127.0.0.1".parse().unwrap(),
            sender_stats.clone(),
            forward::VOTE_PEERS_MAX,
        )
        .unwrap();
        tokio::spawn(driver.run(std::future::pending()));
        use dataplane::forward::QuicForward as _;
        for i in 1..=3u8 {
            assert!(sender.try_forward(addr, vec![vec![i; 200].into()]).is_ok());
        }
        for i in 1..=3u8 {
            let (bytes, _) = tokio::time::timeout(Duration::from_secs(10), received.recv())
                .await
                .expect("a vote in time")
                .expect("the socket serves");
            assert_eq!(bytes, vec![i; 200]);
        }
        assert_eq!(stats.staked_transactions.load(Ordering::Relaxed), 3);
        assert_eq!(sender_stats.sent.load(Ordering::Relaxed), 3);

        // A key without stake completes its handshake and is closed at once, counted; what it
        // manages to send is never read.
        let (_client, c) = connect_as(&stranger, addr).await.expect("handshake");
        if let Ok(mut s) = c.open_uni().await {
            let _ = s.write_all(&[7; 200]).await;
            let _ = s.finish();
        }
        let closed = c.closed().await;
        assert!(
            matches!(&closed, quinn::ConnectionError::ApplicationClosed(a) if a.reason.as_ref() == b"staked validators only"),
            "{closed}"
        );
        assert_eq!(
            stats.connections_refused_unstaked.load(Ordering::Relaxed),
            1
        );
        assert!(received.try_recv().is_err());
        assert_eq!(stats.transactions.load(Ordering::Relaxed), 3);
    }
}
