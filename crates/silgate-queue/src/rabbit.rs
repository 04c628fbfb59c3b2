//! The RabbitMQ queue (lapin), for deployments with several gateway instances.
//!
//! Topology, declared idempotently at every (re)connection:
//!
//! ```text
//!  enqueue ──publish, confirm──> [queue: quorum, durable] ──consume, prefetch──> lease
//!                                       │ x-delivery-limit exceeded
//!                                       v
//!                          (exchange: <queue>.dlx, fanout) ──> [<queue>.dead: quorum]
//! ```
//!
//! - Publisher confirms are on: [`Queue::enqueue`] returns only after the broker has
//!   confirmed every message of the batch; a nack or a lost connection fails the batch
//!   and it is published again after reconnecting (a repeat is harmless: delivery is
//!   idempotent on the message id).
//! - Leases are deliveries on a consumer with manual acks and a prefetch; a lease whose
//!   connection dies is requeued by the broker and delivered again, with the quorum
//!   queue's `x-delivery-count` header telling how often.
//! - [`Queue::dead_letter`] publishes the item to the dead-letter exchange with the
//!   reason in an `x-silgate-reason` header, waits for the confirm, then acks the
//!   original: the reason travels with the item.
//! - A release with a delay does not hold the delivery: the item is published to the
//!   delay queue of the shortest wait not below the delay (`<queue>.delay.<secs>`, each
//!   a quorum queue whose messages expire after its wait into the main queue,
//!   dead-lettered at least once), then the original is acked. Its deliveries so far
//!   travel in an `x-silgate-deliveries` header; a delay longer than the longest wait
//!   carries its due time in `x-silgate-due` and goes round again until due.
//! - Any channel or connection error drops the connection; the next call reconnects
//!   with exponential backoff (backon) for up to [`RabbitConfig::reconnect_for`].

use backon::BackoffBuilder as _;
use futures_util::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Acker, BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};
use silgate_core::{DeadLetter, LeaseId, Leased, Queue, QueueError, QueueItem, QueueStats};
use silgate_store::now_ms;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

/// Settings of the RabbitMQ queue.
#[derive(Debug, Clone)]
pub struct RabbitConfig {
    /// `amqp://user:pass@host:port/vhost`.
    pub uri: String,
    /// Queue name; the dead-letter exchange and queue are named after it.
    pub queue: String,
    /// Unacked deliveries the broker hands this consumer at once.
    pub prefetch: u16,
    /// Deliveries after which the broker dead-letters an item by itself (a poison
    /// item that crashes every consumer).
    pub delivery_limit: i64,
    /// How long calls keep reconnecting before they fail.
    pub reconnect_for: Duration,
    /// With an `amqps://` URI: PEM CA certificates the broker's certificate may chain
    /// to, besides the system's roots (the TLS stack, lapin's tcp-stream, adds them to
    /// its native roots). The broker's name is checked against the URI's host.
    pub ca_pem: Option<String>,
}

impl RabbitConfig {
    /// Defaults for `uri`: queue `silgate.records`, prefetch 64, delivery limit 50,
    /// reconnect for 5 minutes.
    pub fn new(uri: impl Into<String>) -> Self {
        Self { uri: uri.into(), queue: "silgate.records".into(), prefetch: 64, delivery_limit: 50, reconnect_for: Duration::from_secs(300), ca_pem: None }
    }

    fn dlx(&self) -> String {
        format!("{}.dlx", self.queue)
    }

    fn dlq(&self) -> String {
        format!("{}.dead", self.queue)
    }

    fn delay_queue(&self, secs: u64) -> String {
        format!("{}.delay.{secs}", self.queue)
    }
}

/// The waits of the delay queues, seconds.
const DELAYS: [u64; 6] = [1, 5, 15, 60, 300, 900];

/// The delay queue for `delay`: the shortest wait not below it (an item never comes
/// back early: a `Retry-After` is honoured), else the longest.
fn delay_bucket(delay: Duration) -> u64 {
    let ms = delay.as_millis();
    DELAYS.into_iter().find(|s| u128::from(*s) * 1000 >= ms).unwrap_or(DELAYS[DELAYS.len() - 1])
}

/// What travels with an item given back through a delay queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Carried {
    /// Deliveries it had before (counted in [`Leased::deliveries`]).
    deliveries: u32,
    /// When it may be leased again, Unix ms (past the longest wait).
    due_ms: Option<i64>,
}

/// One live connection with its channels.
struct Link {
    generation: u64,
    connection: Connection,
    publish: Channel,
    /// Kept open for the consumer's lifetime.
    _consume: Channel,
    consumer: Consumer,
}

/// A delivery we hold: the link generation it came on, its acker, the item, and its
/// deliveries (this one included).
type HeldLease = (u64, Acker, QueueItem, u32);

/// The RabbitMQ queue. Cloning shares the connection.
#[derive(Clone)]
pub struct RabbitQueue {
    cfg: Arc<RabbitConfig>,
    link: Arc<Mutex<Option<Arc<Link>>>>,
    /// Consumer side: taking deliveries is serialised.
    take: Arc<Mutex<()>>,
    leases: Arc<std::sync::Mutex<HashMap<u64, HeldLease>>>,
    next_lease: Arc<AtomicU64>,
    generation: Arc<AtomicU64>,
}

impl std::fmt::Debug for RabbitQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitQueue").field("queue", &self.cfg.queue).finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

fn quorum_args(dlx: Option<(&str, i64)>) -> FieldTable {
    let mut t = FieldTable::default();
    t.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    if let Some((dlx, limit)) = dlx {
        t.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(dlx.into()));
        t.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(limit));
    }
    t
}

fn delay_args(target: &str, wait_secs: u64) -> FieldTable {
    let mut t = quorum_args(None);
    t.insert("x-message-ttl".into(), AMQPValue::LongLongInt(i64::try_from(wait_secs * 1000).unwrap_or(i64::MAX)));
    t.insert("x-dead-letter-exchange".into(), AMQPValue::LongString("".into()));
    t.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(target.into()));
    // Expired items move to the main queue confirmed, not at most once.
    t.insert("x-dead-letter-strategy".into(), AMQPValue::LongString("at-least-once".into()));
    t.insert("x-overflow".into(), AMQPValue::LongString("reject-publish".into()));
    t
}

fn props(item: &QueueItem, reason: Option<&str>, carried: Option<Carried>) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert("x-silgate-kind".into(), AMQPValue::LongString(item.kind.as_str().into()));
    if let Some(r) = reason {
        headers.insert("x-silgate-reason".into(), AMQPValue::LongString(r.into()));
        headers.insert("x-silgate-dead-at".into(), AMQPValue::LongLongInt(now_ms()));
    }
    if let Some(c) = carried {
        headers.insert("x-silgate-deliveries".into(), AMQPValue::LongLongInt(i64::from(c.deliveries)));
        if let Some(due) = c.due_ms {
            headers.insert("x-silgate-due".into(), AMQPValue::LongLongInt(due));
        }
    }
    BasicProperties::default().with_delivery_mode(2).with_content_type("application/json".into()).with_message_id(item.message_id.as_str().into()).with_headers(headers)
}

fn header<'a>(p: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    p.headers().as_ref().and_then(|h| h.inner().iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v))
}

fn header_i64(p: &BasicProperties, name: &str) -> Option<i64> {
    match header(p, name)? {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortUInt(n) => Some(i64::from(*n)),
        _ => None,
    }
}

fn header_str(p: &BasicProperties, name: &str) -> Option<String> {
    match header(p, name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

fn decode(data: &[u8]) -> Result<QueueItem, QueueError> {
    serde_json::from_slice(data).map_err(|e| QueueError::Corrupt(format!("message does not decode: {e}")))
}

impl RabbitQueue {
    /// Connects and declares the topology.
    pub async fn connect(cfg: RabbitConfig) -> Result<Self, QueueError> {
        let q = Self {
            cfg: Arc::new(cfg),
            link: Arc::new(Mutex::new(None)),
            take: Arc::new(Mutex::new(())),
            leases: Arc::new(std::sync::Mutex::new(HashMap::new())),
            next_lease: Arc::new(AtomicU64::new(1)),
            generation: Arc::new(AtomicU64::new(0)),
        };
        q.link().await?;
        Ok(q)
    }

    async fn open(&self) -> Result<Link, lapin::Error> {
        let cfg = &self.cfg;
        let properties = ConnectionProperties::default().with_connection_name("silgate".into());
        // amqps:// is TLS (rustls), verified against `ca_pem` or the system's roots.
        let tls = lapin::tcp::OwnedTLSConfig { identity: None, cert_chain: cfg.ca_pem.clone() };
        let connection = lapin::DefaultConnectionBuilder::new()?.with_uri_str(cfg.uri.clone()).with_properties(properties).with_tls_config(tls).connect().await?;
        let publish = connection.create_channel().await?;
        publish.confirm_select(ConfirmSelectOptions::default()).await?;
        let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
        publish.exchange_declare(cfg.dlx().as_str().into(), ExchangeKind::Fanout, durable, FieldTable::default()).await?;
        let qd = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
        publish.queue_declare(cfg.dlq().as_str().into(), qd, quorum_args(None)).await?;
        publish.queue_bind(cfg.dlq().as_str().into(), cfg.dlx().as_str().into(), "".into(), QueueBindOptions::default(), FieldTable::default()).await?;
        publish.queue_declare(cfg.queue.as_str().into(), qd, quorum_args(Some((&cfg.dlx(), cfg.delivery_limit)))).await?;
        for secs in DELAYS {
            publish.queue_declare(cfg.delay_queue(secs).as_str().into(), qd, delay_args(&cfg.queue, secs)).await?;
        }
        let consume = connection.create_channel().await?;
        consume.basic_qos(cfg.prefetch, BasicQosOptions::default()).await?;
        let consumer = consume.basic_consume(cfg.queue.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default()).await?;
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Link { generation, connection, publish, _consume: consume, consumer })
    }

    /// The live link, connecting (with backoff) when there is none.
    async fn link(&self) -> Result<Arc<Link>, QueueError> {
        let mut guard = self.link.lock().await;
        if let Some(l) = guard.as_ref()
            && l.connection.status().connected()
        {
            return Ok(l.clone());
        }
        *guard = None;
        let started = std::time::Instant::now();
        let mut delays = backon::ExponentialBuilder::default().with_min_delay(Duration::from_millis(100)).with_max_delay(Duration::from_secs(5)).without_max_times().build();
        loop {
            match self.open().await {
                Ok(l) => {
                    let l = Arc::new(l);
                    *guard = Some(l.clone());
                    if l.generation > 1 {
                        tracing::info!(queue = %self.cfg.queue, "reconnected to RabbitMQ");
                    }
                    return Ok(l);
                }
                Err(e) if started.elapsed() < self.cfg.reconnect_for => {
                    let d = delays.next().unwrap_or(Duration::from_secs(5));
                    tracing::warn!(error = %e, retry_in = ?d, "RabbitMQ unavailable");
                    tokio::time::sleep(fastrand_full_jitter(d)).await;
                }
                Err(e) => return Err(unavailable(format!("RabbitMQ at {}: {e}", redact_uri(&self.cfg.uri)))),
            }
        }
    }

    /// Forgets a broken link (if it is still the current one) so the next call reconnects.
    async fn drop_link(&self, broken: &Link) {
        let mut guard = self.link.lock().await;
        if guard.as_ref().is_some_and(|l| l.generation == broken.generation) {
            *guard = None;
            self.leases.lock().map(|mut m| m.retain(|_, (g, ..)| *g != broken.generation)).ok();
        }
    }

    async fn publish_all(&self, link: &Link, exchange: &str, routing_key: &str, items: &[(QueueItem, Vec<u8>)], reason: Option<&str>) -> Result<(), QueueError> {
        self.publish_with(link, exchange, routing_key, items, reason, None).await
    }

    async fn publish_with(
        &self,
        link: &Link,
        exchange: &str,
        routing_key: &str,
        items: &[(QueueItem, Vec<u8>)],
        reason: Option<&str>,
        carried: Option<Carried>,
    ) -> Result<(), QueueError> {
        let mut confirms = Vec::with_capacity(items.len());
        for (item, body) in items {
            let c =
                link.publish.basic_publish(exchange.into(), routing_key.into(), BasicPublishOptions::default(), body, props(item, reason, carried)).await.map_err(unavailable)?;
            confirms.push(c);
        }
        for c in confirms {
            let confirmation = c.await.map_err(unavailable)?;
            if !confirmation.is_ack() {
                return Err(QueueError::Refused("the broker did not confirm the publish".into()));
            }
        }
        Ok(())
    }

    fn register(&self, generation: u64, acker: Acker, item: QueueItem, deliveries: u32) -> LeaseId {
        let id = self.next_lease.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut m) = self.leases.lock() {
            m.insert(id, (generation, acker, item, deliveries));
        }
        LeaseId(id)
    }

    fn take_lease(&self, lease: LeaseId) -> Result<HeldLease, QueueError> {
        self.leases.lock().ok().and_then(|mut m| m.remove(&lease.0)).ok_or(QueueError::UnknownLease(lease))
    }

    /// Puts `item` in the delay queue for `delay` (confirmed), carrying `deliveries`,
    /// then acks the delivery it came on (unless that died with its connection: then
    /// the broker hands it out again, and the message id makes the copy harmless).
    ///
    /// When the publish fails the delivery is requeued at once (counted, like any
    /// requeue) rather than left unacked on the channel, and the link is dropped.
    async fn delay(&self, generation: u64, acker: &Acker, item: QueueItem, delay: Duration, deliveries: u32) -> Result<(), QueueError> {
        let secs = delay_bucket(delay);
        let due_ms = (u128::from(secs) * 1000 < delay.as_millis()).then(|| now_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)));
        let body = serde_json::to_vec(&item).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        let link = self.link().await?;
        if let Err(e) = self.publish_with(&link, "", &self.cfg.delay_queue(secs), &[(item, body)], None, Some(Carried { deliveries, due_ms })).await {
            self.drop_link(&link).await;
            if let Err(n) = acker.nack(BasicNackOptions { requeue: true, ..BasicNackOptions::default() }).await {
                tracing::warn!(error = %n, "could not requeue the delivery either: the broker hands it back when its channel closes");
            }
            return Err(e);
        }
        if link.generation == generation {
            acker.ack(BasicAckOptions::default()).await.map_err(unavailable)?;
        }
        Ok(())
    }

    /// A fresh channel on the live link (for the dead-letter store's browsing).
    async fn side_channel(&self) -> Result<(Arc<Link>, Channel), QueueError> {
        let link = self.link().await?;
        match link.connection.create_channel().await {
            Ok(ch) => Ok((link, ch)),
            Err(e) => {
                self.drop_link(&link).await;
                Err(unavailable(e))
            }
        }
    }
}

/// Full jitter: a uniform draw in [0, d].
fn fastrand_full_jitter(d: Duration) -> Duration {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(fastrand::u64(0..=ms))
}

/// The URI without its password, for messages.
fn redact_uri(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &uri[..s], &uri[at + 1..]),
        _ => uri.to_string(),
    }
}

impl Queue for RabbitQueue {
    async fn enqueue(&self, items: Vec<QueueItem>) -> Result<usize, QueueError> {
        let encoded: Vec<(QueueItem, Vec<u8>)> =
            items.into_iter().map(|i| serde_json::to_vec(&i).map(|b| (i, b))).collect::<Result<_, _>>().map_err(|e| QueueError::Corrupt(e.to_string()))?;
        let started = std::time::Instant::now();
        loop {
            let link = self.link().await?;
            match self.publish_all(&link, "", &self.cfg.queue, &encoded, None).await {
                Ok(()) => return Ok(encoded.len()),
                Err(e) if started.elapsed() < self.cfg.reconnect_for => {
                    tracing::warn!(error = %e, "publish failed; republishing the batch after reconnecting");
                    self.drop_link(&link).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn lease(&self, max: usize, wait: Duration) -> Result<Vec<Leased>, QueueError> {
        let _one_taker = self.take.lock().await;
        let link = self.link().await?;
        let mut out = Vec::new();
        // The consumer stream is shared through the Arc'd link; lapin's Consumer is a
        // cloneable handle on one delivery buffer.
        let mut consumer = link.consumer.clone();
        let mut timeout = wait;
        while out.len() < max {
            let next = match tokio::time::timeout(timeout, consumer.next()).await {
                Err(_) => break,
                Ok(n) => n,
            };
            match next {
                Some(Ok(delivery)) => {
                    let this = match header_i64(&delivery.properties, "x-delivery-count") {
                        Some(n) => u32::try_from(n + 1).unwrap_or(u32::MAX),
                        None if delivery.redelivered => 2,
                        None => 1,
                    };
                    let carried = header_i64(&delivery.properties, "x-silgate-deliveries").and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
                    let deliveries = carried.saturating_add(this);
                    let due = header_i64(&delivery.properties, "x-silgate-due").filter(|d| *d > now_ms());
                    match decode(&delivery.data) {
                        Ok(item) if due.is_some() => {
                            // Not due yet (a delay past the longest wait): round again,
                            // this arrival not counted.
                            let left = Duration::from_millis(u64::try_from(due.unwrap_or(0) - now_ms()).unwrap_or(0));
                            if let Err(e) = self.delay(link.generation, &delivery.acker, item, left, deliveries.saturating_sub(1)).await {
                                tracing::warn!(error = %e, "could not put a waiting item back in its delay queue; requeued");
                            }
                        }
                        Ok(item) => {
                            let lease = self.register(link.generation, delivery.acker, item.clone(), deliveries);
                            out.push(Leased { item, lease, deliveries });
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "undecodable message: dead-lettering it");
                            if let Err(n) = delivery.acker.nack(BasicNackOptions { requeue: false, ..BasicNackOptions::default() }).await {
                                tracing::warn!(error = %n, "could not dead-letter the undecodable message: the broker hands it back when its channel closes");
                            }
                        }
                    }
                    timeout = Duration::from_millis(5);
                }
                Some(Err(e)) => {
                    self.drop_link(&link).await;
                    if out.is_empty() {
                        return Err(unavailable(e));
                    }
                    break;
                }
                None => {
                    self.drop_link(&link).await;
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn ack(&self, lease: LeaseId) -> Result<(), QueueError> {
        let (_, acker, ..) = self.take_lease(lease)?;
        acker.ack(BasicAckOptions::default()).await.map_err(unavailable)?;
        Ok(())
    }

    async fn ack_all(&self, leases: Vec<LeaseId>) -> Result<(), QueueError> {
        for l in leases {
            self.ack(l).await?;
        }
        Ok(())
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), QueueError> {
        // A delivery stays ours while the channel lives (the broker's consumer timeout,
        // 30 minutes by default, bounds it): nothing to do but check we still hold it.
        match self.leases.lock() {
            Ok(m) if m.contains_key(&lease.0) => Ok(()),
            _ => Err(QueueError::UnknownLease(lease)),
        }
    }

    async fn release(&self, lease: LeaseId, delay: Duration) -> Result<(), QueueError> {
        let (generation, acker, item, deliveries) = self.take_lease(lease)?;
        if delay.is_zero() {
            acker.nack(BasicNackOptions { requeue: true, ..BasicNackOptions::default() }).await.map_err(unavailable)?;
            return Ok(());
        }
        self.delay(generation, &acker, item, delay, deliveries).await
    }

    async fn defer(&self, lease: LeaseId, delay: Duration) -> Result<(), QueueError> {
        let (generation, acker, item, deliveries) = self.take_lease(lease)?;
        self.delay(generation, &acker, item, delay, deliveries.saturating_sub(1)).await
    }

    fn orders_keys(&self) -> bool {
        false
    }

    async fn dead_letter(&self, lease: LeaseId, reason: &str) -> Result<(), QueueError> {
        let (generation, acker, item, _) = self.take_lease(lease)?;
        let body = serde_json::to_vec(&item).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        let link = self.link().await?;
        self.publish_all(&link, &self.cfg.dlx(), "", &[(item, body)], Some(reason)).await?;
        if link.generation != generation {
            // The delivery died with its connection and will come back; the dead
            // letter is already stored, and delivery is idempotent on the message id.
            return Ok(());
        }
        acker.ack(BasicAckOptions::default()).await.map_err(unavailable)?;
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let (_link, ch) = self.side_channel().await?;
        let mut out = Vec::new();
        while out.len() < limit {
            match ch.basic_get(self.cfg.dlq().as_str().into(), BasicGetOptions { no_ack: false }).await.map_err(unavailable)? {
                Some(m) => {
                    let p = &m.delivery.properties;
                    let reason = header_str(p, "x-silgate-reason").unwrap_or_else(|| "rabbitmq.delivery-limit".into());
                    let at_ms = header_i64(p, "x-silgate-dead-at").unwrap_or(0);
                    out.push(DeadLetter { item: decode(&m.delivery.data)?, reason, at_ms });
                }
                None => break,
            }
        }
        // Closing the channel puts every message we looked at back, unacked.
        let _ = ch.close(200, "browsed".into()).await;
        Ok(out)
    }

    async fn replay(&self, ids: &[String]) -> Result<Vec<QueueItem>, QueueError> {
        let (link, ch) = self.side_channel().await?;
        let mut out = Vec::new();
        loop {
            let Some(m) = ch.basic_get(self.cfg.dlq().as_str().into(), BasicGetOptions { no_ack: false }).await.map_err(unavailable)? else { break };
            let item = decode(&m.delivery.data)?;
            if ids.is_empty() || ids.contains(&item.message_id) {
                let body = m.delivery.data.clone();
                self.publish_all(&link, "", &self.cfg.queue, &[(item.clone(), body)], None).await?;
                m.delivery.acker.ack(BasicAckOptions::default()).await.map_err(unavailable)?;
                out.push(item);
            }
            if m.message_count == 0 {
                break;
            }
        }
        let _ = ch.close(200, "replayed".into()).await;
        Ok(out)
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let (_link, ch) = self.side_channel().await?;
        let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        let main = ch.queue_declare(self.cfg.queue.as_str().into(), passive, FieldTable::default()).await.map_err(unavailable)?;
        let dead = ch.queue_declare(self.cfg.dlq().as_str().into(), passive, FieldTable::default()).await.map_err(unavailable)?;
        // Items waiting out a delay are waiting too.
        let mut ready = u64::from(main.message_count());
        for secs in DELAYS {
            let q = ch.queue_declare(self.cfg.delay_queue(secs).as_str().into(), passive, FieldTable::default()).await.map_err(unavailable)?;
            ready += u64::from(q.message_count());
        }
        let _ = ch.close(200, "stats".into()).await;
        let leased = self.leases.lock().map(|m| m.len() as u64).ok();
        Ok(QueueStats { ready, leased, dead: u64::from(dead.message_count()) })
    }
}
