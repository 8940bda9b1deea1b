//! The embedded MQTT 5 endpoint: a small broker on tokio, limited to what the OTA protocol and
//! the tests need, with the MQTT 5 packet codec of `rumqttc` (`rumqttc::v5::mqttbytes`).
//!
//! **Why our own.** The maintained Rust brokers were tried first (see the README): rumqttd
//! disconnects clients that subscribe to `$`-prefixed filters; rmqtt 0.24 in library mode
//! refuses any topic level after the first that starts with `$` (`$aws/things/+/jobs/$next/get`
//! gets a failed SUBACK) and did not route `$aws/...` publishes in our trial. AWS's topics are
//! never renamed here, so neither could serve as the endpoint.
//!
//! What it does: CONNECT/CONNACK (MQTT 5; clean sessions only, `session_present` is always
//! false), SUBSCRIBE/SUBACK and UNSUBSCRIBE/UNSUBACK with `+`/`#` wildcards (a filter starting
//! with a wildcard does not match a `$` topic), PUBLISH at QoS 0 and 1 (PUBACK), delivery at the
//! lower of the publish and subscription QoS, PINGREQ/PINGRESP, DISCONNECT, client-id takeover
//! (a second connection with the same client id disconnects the first, as AWS IoT does), the
//! client's Maximum Packet Size (larger messages are dropped for that client, as the spec
//! requires), TCP_NODELAY. Not done: QoS 2, retained messages, wills, persistent sessions,
//! topic aliases, shared subscriptions, authentication (use mosquitto for those:
//! `--broker mqtt://...`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use rumqttc::v5::mqttbytes::v5::{
    ConnAck, ConnAckProperties, ConnectReturnCode, Packet, PingResp, PubAck, Publish, SubAck,
    SubscribeReasonCode, UnsubAck, UnsubAckReason,
};
use rumqttc::v5::mqttbytes::{Error as CodecError, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Largest packet the broker reads.
pub const MAX_PACKET: u32 = 512 * 1024;

/// Broker counters.
#[derive(Debug, Default)]
pub struct BrokerStats {
    /// PUBLISH packets received from clients.
    pub published: AtomicU64,
    /// PUBLISH packets delivered to subscribers.
    pub delivered: AtomicU64,
    /// Deliveries dropped (larger than the client's Maximum Packet Size).
    pub dropped: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
}

enum Out {
    Bytes(Bytes),
    Close,
}

struct Client {
    client_id: String,
    tx: mpsc::UnboundedSender<Out>,
    subs: Vec<(String, QoS)>,
    max_packet: u32,
    next_pkid: u16,
}

#[derive(Default)]
struct State {
    clients: HashMap<u64, Client>,
    by_id: HashMap<String, u64>,
    subs: Trie,
}

impl State {
    /// Forgets a connection and its subscriptions.
    fn remove_client(&mut self, id: u64) -> Option<Client> {
        let c = self.clients.remove(&id)?;
        for (f, _) in &c.subs {
            self.subs.remove(f, id);
        }
        Some(c)
    }
}

/// The subscriptions, one level per node, so that routing a publish costs the topic's depth,
/// not the number of clients (a fleet of 1,000 devices holds ~5,000 filters).
#[derive(Default)]
struct Trie {
    /// Exact next levels.
    children: HashMap<String, Trie>,
    /// The `+` next level.
    plus: Option<Box<Trie>>,
    /// Subscribers of `<this level>/#`.
    hash: HashMap<u64, QoS>,
    /// Subscribers whose filter ends at this level.
    here: HashMap<u64, QoS>,
}

impl Trie {
    fn insert(&mut self, filter: &str, client: u64, qos: QoS) {
        let mut node = self;
        for level in filter.split('/') {
            match level {
                "#" => {
                    node.hash.insert(client, qos);
                    return;
                }
                "+" => node = node.plus.get_or_insert_with(Box::default),
                l => node = node.children.entry(l.to_string()).or_default(),
            }
        }
        node.here.insert(client, qos);
    }

    /// Removes `client`'s `filter`; prunes the nodes left empty. Returns whether this node is
    /// empty now.
    fn remove(&mut self, filter: &str, client: u64) -> bool {
        self.remove_levels(&mut filter.split('/'), client);
        self.is_empty()
    }

    fn remove_levels<'a>(&mut self, levels: &mut impl Iterator<Item = &'a str>, client: u64) {
        match levels.next() {
            None => {
                self.here.remove(&client);
            }
            Some("#") => {
                self.hash.remove(&client);
            }
            Some("+") => {
                if let Some(p) = self.plus.as_mut() {
                    p.remove_levels(levels, client);
                    if p.is_empty() {
                        self.plus = None;
                    }
                }
            }
            Some(l) => {
                if let Some(c) = self.children.get_mut(l) {
                    c.remove_levels(levels, client);
                    if c.is_empty() {
                        self.children.remove(l);
                    }
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.plus.is_none()
            && self.hash.is_empty()
            && self.here.is_empty()
    }

    /// Every subscriber of `topic` with its highest subscription QoS. A filter that starts
    /// with a wildcard does not match a topic that starts with `$`.
    fn subscribers(&self, topic: &str) -> HashMap<u64, QoS> {
        let levels: Vec<&str> = topic.split('/').collect();
        let mut out = HashMap::new();
        let dollar = topic.starts_with('$');
        self.collect(&levels, dollar, &mut out);
        out
    }

    fn collect(&self, levels: &[&str], no_wildcard: bool, out: &mut HashMap<u64, QoS>) {
        let mut add = |subs: &HashMap<u64, QoS>| {
            for (c, q) in subs {
                let e = out.entry(*c).or_insert(*q);
                if (*q as u8) > (*e as u8) {
                    *e = *q;
                }
            }
        };
        if !no_wildcard {
            // `a/#` also matches `a`.
            add(&self.hash);
        }
        let Some((first, rest)) = levels.split_first() else {
            add(&self.here);
            return;
        };
        if let Some(c) = self.children.get(*first) {
            c.collect(rest, false, out);
        }
        if !no_wildcard && let Some(p) = &self.plus {
            p.collect(rest, false, out);
        }
    }
}

/// A running embedded broker. Dropping it stops accepting; connections end with the runtime.
pub struct Broker {
    addr: SocketAddr,
    stats: Arc<BrokerStats>,
    state: Arc<Mutex<State>>,
    accept: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").field("addr", &self.addr).finish()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.accept.abort();
        if let Ok(st) = self.state.lock() {
            for c in st.clients.values() {
                let _ = c.tx.send(Out::Close);
            }
        }
    }
}

/// `true` when `filter` matches `topic` (MQTT 5 rules, `$` topics excluded from a leading
/// wildcard).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, l)| match *l {
        "#" => i + 1 == levels.len(),
        "+" => true,
        l => !l.contains(['+', '#']),
    })
}

fn encode(p: &Packet, max: Option<u32>) -> Option<Bytes> {
    let mut b = BytesMut::new();
    p.write(&mut b, max).ok()?;
    Some(b.freeze())
}

impl Broker {
    /// Starts a broker listening on `addr` (port 0: any free port).
    ///
    /// # Errors
    /// The bind error.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(BrokerStats::default());
        let state = Arc::new(Mutex::new(State::default()));
        let (st, sx) = (state.clone(), stats.clone());
        let accept = tokio::spawn(async move {
            let next = AtomicU64::new(1);
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let _ = sock.set_nodelay(true);
                sx.connections.fetch_add(1, Ordering::Relaxed);
                let id = next.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(id, sock, st.clone(), sx.clone()));
            }
        });
        Ok(Self {
            addr,
            stats,
            state,
            accept,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }

    /// The counters.
    pub fn stats(&self) -> &BrokerStats {
        &self.stats
    }

    /// Disconnects the client with this client id (as a takeover would); `true` if it was
    /// connected.
    pub fn kick(&self, client_id: &str) -> bool {
        let Ok(mut st) = self.state.lock() else {
            return false;
        };
        let Some(id) = st.by_id.remove(client_id) else {
            return false;
        };
        if let Some(c) = st.clients.remove(&id) {
            let _ = c.tx.send(Out::Close);
        }
        true
    }
}

fn route(state: &Mutex<State>, stats: &BrokerStats, publish: &Publish) {
    let Ok(topic) = std::str::from_utf8(&publish.topic) else {
        return;
    };
    let Ok(mut st) = state.lock() else {
        return;
    };
    for (id, qos) in st.subs.subscribers(topic) {
        let Some(c) = st.clients.get_mut(&id) else {
            continue;
        };
        let qos = if (qos as u8) < (publish.qos as u8) {
            qos
        } else {
            publish.qos
        };
        let mut out = Publish::new(topic, qos, publish.payload.clone(), None);
        if qos != QoS::AtMostOnce {
            c.next_pkid = c.next_pkid.checked_add(1).unwrap_or(1).max(1);
            out.pkid = c.next_pkid;
        }
        match encode(&Packet::Publish(out), Some(c.max_packet)) {
            Some(b) => {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
                let _ = c.tx.send(Out::Bytes(b));
            }
            None => {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn serve(id: u64, sock: TcpStream, state: Arc<Mutex<State>>, stats: Arc<BrokerStats>) {
    let (mut rd, wr) = sock.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let writer = tokio::spawn(async move {
        let mut wr = tokio::io::BufWriter::with_capacity(64 * 1024, wr);
        while let Some(o) = rx.recv().await {
            let mut next = Some(o);
            // Write everything queued, then flush once.
            while let Some(o) = next {
                match o {
                    Out::Bytes(b) => {
                        if wr.write_all(&b).await.is_err() {
                            return;
                        }
                    }
                    Out::Close => {
                        let _ = wr.flush().await;
                        let _ = wr.into_inner().shutdown().await;
                        return;
                    }
                }
                next = rx.try_recv().ok();
            }
            if wr.flush().await.is_err() {
                return;
            }
        }
    });
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut connected = false;
    'read: loop {
        loop {
            match Packet::read(&mut buf, Some(MAX_PACKET)) {
                Ok(p) => {
                    if !handle(id, p, &mut connected, &tx, &state, &stats) {
                        break 'read;
                    }
                }
                Err(CodecError::InsufficientBytes(_)) => break,
                Err(_) => break 'read,
            }
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    if let Ok(mut st) = state.lock()
        && let Some(c) = st.remove_client(id)
        && st.by_id.get(&c.client_id) == Some(&id)
    {
        st.by_id.remove(&c.client_id);
    }
    let _ = tx.send(Out::Close);
    let _ = writer.await;
}

/// Handles one packet; `false` closes the connection.
fn handle(
    id: u64,
    p: Packet,
    connected: &mut bool,
    tx: &mpsc::UnboundedSender<Out>,
    state: &Mutex<State>,
    stats: &BrokerStats,
) -> bool {
    let send = |p: Packet| {
        if let Some(b) = encode(&p, None) {
            let _ = tx.send(Out::Bytes(b));
        }
    };
    match p {
        Packet::Connect(c, _, _) if !*connected => {
            *connected = true;
            let max_packet = c
                .properties
                .as_ref()
                .and_then(|p| p.max_packet_size)
                .unwrap_or(MAX_PACKET);
            let Ok(mut st) = state.lock() else {
                return false;
            };
            if let Some(old) = st.by_id.insert(c.client_id.clone(), id)
                && let Some(o) = st.remove_client(old)
            {
                let _ = o.tx.send(Out::Close);
            }
            st.clients.insert(
                id,
                Client {
                    client_id: c.client_id,
                    tx: tx.clone(),
                    subs: Vec::new(),
                    max_packet,
                    next_pkid: 0,
                },
            );
            drop(st);
            send(Packet::ConnAck(ConnAck {
                session_present: false,
                code: ConnectReturnCode::Success,
                properties: Some(ConnAckProperties {
                    session_expiry_interval: None,
                    receive_max: Some(u16::MAX),
                    max_qos: Some(1),
                    retain_available: Some(0),
                    max_packet_size: Some(MAX_PACKET),
                    assigned_client_identifier: None,
                    topic_alias_max: None,
                    reason_string: None,
                    user_properties: Vec::new(),
                    wildcard_subscription_available: None,
                    subscription_identifiers_available: Some(0),
                    shared_subscription_available: Some(0),
                    server_keep_alive: None,
                    response_information: None,
                    server_reference: None,
                    authentication_method: None,
                    authentication_data: None,
                }),
            }));
            true
        }
        _ if !*connected => false,
        Packet::Connect(..) => false,
        Packet::Publish(p) => {
            stats.published.fetch_add(1, Ordering::Relaxed);
            if p.qos == QoS::ExactlyOnce {
                return false;
            }
            if p.qos == QoS::AtLeastOnce {
                send(Packet::PubAck(PubAck::new(p.pkid, None)));
            }
            route(state, stats, &p);
            true
        }
        Packet::Subscribe(s) => {
            let mut codes = Vec::new();
            if let Ok(mut st) = state.lock() {
                let st = &mut *st;
                if let Some(c) = st.clients.get_mut(&id) {
                    for f in s.filters {
                        if !valid_filter(&f.path) {
                            codes.push(SubscribeReasonCode::TopicFilterInvalid);
                            continue;
                        }
                        let qos = if f.qos == QoS::ExactlyOnce {
                            QoS::AtLeastOnce
                        } else {
                            f.qos
                        };
                        st.subs.insert(&f.path, id, qos);
                        c.subs.retain(|(p, _)| *p != f.path);
                        c.subs.push((f.path, qos));
                        codes.push(SubscribeReasonCode::Success(qos));
                    }
                }
            }
            send(Packet::SubAck(SubAck {
                pkid: s.pkid,
                return_codes: codes,
                properties: None,
            }));
            true
        }
        Packet::Unsubscribe(u) => {
            let mut reasons = Vec::new();
            if let Ok(mut st) = state.lock() {
                let st = &mut *st;
                if let Some(c) = st.clients.get_mut(&id) {
                    for f in u.filters {
                        let before = c.subs.len();
                        c.subs.retain(|(p, _)| *p != f);
                        reasons.push(if c.subs.len() < before {
                            st.subs.remove(&f, id);
                            UnsubAckReason::Success
                        } else {
                            UnsubAckReason::NoSubscriptionExisted
                        });
                    }
                }
            }
            send(Packet::UnsubAck(UnsubAck {
                pkid: u.pkid,
                reasons,
                properties: None,
            }));
            true
        }
        Packet::PingReq(_) => {
            send(Packet::PingResp(PingResp));
            true
        }
        Packet::PubAck(_) => true,
        Packet::Disconnect(_) => false,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_matching() {
        let t = "$aws/things/dev1/jobs/$next/get";
        assert!(matches("$aws/things/+/jobs/+/get", t));
        assert!(matches("$aws/things/dev1/jobs/#", t));
        assert!(matches(t, t));
        assert!(!matches("#", t));
        assert!(!matches("+/things/dev1/jobs/$next/get", t));
        assert!(!matches("$aws/things/+/jobs/get", t));
        assert!(matches("a/#", "a"));
        assert!(!matches("a/+", "a"));
        assert!(matches("#", "a/b"));
    }

    /// The trie routes exactly as `matches` says, with the highest QoS per client, and
    /// forgets unsubscribed filters.
    #[test]
    fn trie_agrees_with_matches() {
        let filters = [
            "$aws/things/+/jobs/+/get",
            "$aws/things/dev1/jobs/#",
            "$aws/things/dev1/jobs/$next/get",
            "#",
            "+/b",
            "a/#",
            "a/+",
            "a/b",
            "a/+/c",
            "+",
        ];
        let topics = [
            "$aws/things/dev1/jobs/$next/get",
            "$aws/things/dev2/jobs/j1/get",
            "$aws/things/dev1/jobs",
            "a",
            "a/b",
            "a/b/c",
            "x/b",
            "b",
            "$x",
        ];
        let mut t = Trie::default();
        for (i, f) in filters.iter().enumerate() {
            t.insert(f, i as u64, QoS::AtMostOnce);
            // Client 100 holds every filter, at QoS 1 for the even ones.
            let q = if i % 2 == 0 {
                QoS::AtLeastOnce
            } else {
                QoS::AtMostOnce
            };
            t.insert(f, 100, q);
        }
        for topic in topics {
            let subs = t.subscribers(topic);
            for (i, f) in filters.iter().enumerate() {
                assert_eq!(
                    subs.contains_key(&(i as u64)),
                    matches(f, topic),
                    "{f} {topic}"
                );
            }
            let any_even = filters.iter().step_by(2).any(|f| matches(f, topic));
            let any = filters.iter().any(|f| matches(f, topic));
            match subs.get(&100) {
                Some(q) => {
                    assert!(any);
                    assert_eq!(*q == QoS::AtLeastOnce, any_even, "{topic}");
                }
                None => assert!(!any, "{topic}"),
            }
        }
        for (i, f) in filters.iter().enumerate() {
            t.remove(f, i as u64);
            t.remove(f, 100);
        }
        assert!(t.is_empty(), "every node pruned");
    }

    fn level() -> impl proptest::strategy::Strategy<Value = &'static str> {
        proptest::sample::select(vec!["a", "b", "$x", "+", "#", ""])
    }

    proptest::proptest! {
        /// Random filters and topics: the trie's subscribers are exactly the filters
        /// `matches` accepts, before and after half of them are removed.
        #[test]
        fn trie_matches_like_the_reference(
            filters in proptest::collection::vec(proptest::collection::vec(level(), 1..4), 1..12),
            topics in proptest::collection::vec(proptest::collection::vec(level(), 1..4), 1..12),
        ) {
            let filters: Vec<String> = filters
                .into_iter()
                .map(|f| f.join("/"))
                .filter(|f| valid_filter(f))
                .collect();
            let topics: Vec<String> = topics
                .into_iter()
                .map(|t| t.join("/"))
                .filter(|t| !t.contains(['+', '#']))
                .collect();
            let mut t = Trie::default();
            for (i, f) in filters.iter().enumerate() {
                t.insert(f, i as u64, QoS::AtMostOnce);
            }
            for round in 0..2 {
                for topic in &topics {
                    let subs = t.subscribers(topic);
                    for (i, f) in filters.iter().enumerate() {
                        let live = round == 0 || i % 2 == 1;
                        proptest::prop_assert_eq!(
                            subs.contains_key(&(i as u64)),
                            live && matches(f, topic),
                            "{} {}", f, topic
                        );
                    }
                }
                for (i, f) in filters.iter().enumerate().step_by(2) {
                    t.remove(f, i as u64);
                }
            }
        }
    }

    #[test]
    fn filter_validation() {
        assert!(valid_filter("$aws/things/+/jobs/#"));
        assert!(!valid_filter("a/#/b"));
        assert!(!valid_filter("a/b+"));
        assert!(!valid_filter(""));
    }
}
