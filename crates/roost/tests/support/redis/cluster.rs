//! `RedisCluster`: a real Redis Cluster of `RedisServer`s joined by `redis-cli --cluster
//! create`, with the questions cluster tests ask of it: which node serves a key now,
//! and has a killed master's replica taken over yet.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use roost_resp::Frame;

use super::{info_field, run_cli, RedisServer, POLL_INTERVAL};

/// How long a new cluster may take to agree on its slots and sync its replicas.
const CLUSTER_DEADLINE: Duration = Duration::from_secs(30);
const CLUSTER_SLOTS: u16 = 16384;

/// A Redis Cluster of `RedisServer`s on 127.0.0.1 (node timeout 1 s, so a dead master
/// is failed over within a few seconds). Node indices are stable: `redis-cli --cluster
/// create` makes nodes `0..masters` the masters and the rest their replicas.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    /// Each node's cluster id (`CLUSTER MYID`), by node index.
    ids: Vec<String>,
    /// For each node killed through `kill`: the nodes that replicated it at that moment.
    former_replicas: HashMap<usize, Vec<usize>>,
}

/// One line of `CLUSTER NODES`.
struct NodeLine {
    id: String,
    port: u16,
    flags: String,
    master_id: String,
    slots: Vec<(u16, u16)>,
}

impl NodeLine {
    fn is_serving_master(&self) -> bool {
        let flags: Vec<&str> = self.flags.split(',').collect();
        flags.contains(&"master") && !flags.contains(&"fail") && !flags.contains(&"fail?")
    }

    fn serves(&self, slot: u16) -> bool {
        self.slots
            .iter()
            .any(|&(from, to)| (from..=to).contains(&slot))
    }
}

impl RedisCluster {
    /// `masters` masters (at least 3) with `replicas_per_master` replicas each; returns
    /// once every node reports `cluster_state:ok` with all slots served and every
    /// replica's link to its master is up.
    pub fn start(masters: usize, replicas_per_master: usize) -> RedisCluster {
        assert!(
            masters >= 3,
            "a redis cluster needs at least 3 masters, got {masters}"
        );
        let count = masters * (1 + replicas_per_master);
        let nodes: Vec<RedisServer> = (0..count)
            .map(|_| RedisServer::start_cluster_node())
            .collect();
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())));
        args.extend(["--cluster-replicas".into(), replicas_per_master.to_string()]);
        args.push("--cluster-yes".into());
        run_cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let ids = nodes
            .iter()
            .map(|n| text_of(n.query(&["CLUSTER", "MYID"])))
            .collect();
        let cluster = RedisCluster {
            nodes,
            ids,
            former_replicas: HashMap::new(),
        };
        cluster.wait_until(CLUSTER_DEADLINE, "the new cluster to settle", |c| {
            c.live().try_for_each(|i| c.node_settled(i, count, masters))
        });
        cluster
    }

    /// `redis://127.0.0.1:<port>` of every node, killed ones included.
    pub fn seed_urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    pub fn node(&self, i: usize) -> &RedisServer {
        &self.nodes[i]
    }

    /// The index of the node that serves `key`'s slot now, as the first live node sees it.
    pub fn master_for_key(&self, key: &str) -> usize {
        let asked = self
            .live()
            .next()
            .expect("a cluster with no live node serves nothing");
        let slot = match self.nodes[asked].query(&["CLUSTER", "KEYSLOT", key]) {
            Frame::Integer(slot) => u16::try_from(slot).expect("invariant: slots are below 16384"),
            other => panic!("CLUSTER KEYSLOT {key} replied {other:?}"),
        };
        let view = self.view_of(asked);
        let owner = view
            .iter()
            .find(|line| line.is_serving_master() && line.serves(slot));
        let owner = owner.unwrap_or_else(|| panic!("no live master serves slot {slot} ({key})"));
        self.index_of_port(owner.port)
    }

    /// Remembers which nodes replicate node `i`, then kills it (SIGKILL). The
    /// replicas are asked themselves (INFO replication names their master's
    /// port): a master's CLUSTER NODES can lag behind its replicas' gossip on
    /// a loaded machine.
    pub fn kill(&mut self, i: usize) {
        if self.nodes[i].is_running() {
            let port = self.nodes[i].port().to_string();
            let replicas = (0..self.nodes.len())
                .filter(|&j| j != i && self.nodes[j].is_running())
                .filter(|&j| {
                    let info = self.info(j, "replication");
                    info_field(&info, "role").as_deref() == Some("slave")
                        && info_field(&info, "master_port").as_deref() == Some(port.as_str())
                })
                .collect();
            self.former_replicas.insert(i, replicas);
        }
        self.nodes[i].kill();
    }

    /// Waits until one of `killed`'s former replicas is a master and every live node
    /// reports `cluster_state:ok` with none of its slots left on `killed`.
    pub fn wait_for_failover(&self, killed: usize, within: Duration) {
        let replicas = self
            .former_replicas
            .get(&killed)
            .unwrap_or_else(|| panic!("node {killed} was not killed through RedisCluster::kill"));
        assert!(
            !replicas.is_empty(),
            "node {killed} had no replicas to take over"
        );
        self.wait_until(
            within,
            &format!("a replica of node {killed} to take over"),
            |c| {
                let promoted = replicas
                    .iter()
                    .find(|&&r| c.nodes[r].is_running() && c.role(r).as_deref() == Some("master"));
                let Some(&promoted) = promoted else {
                    return Err(format!("none of nodes {replicas:?} is a master yet"));
                };
                c.live().try_for_each(|i| {
                    c.expect_state_ok(i)?;
                    let view = c.view_of(i);
                    match view.iter().find(|line| line.id == c.ids[killed]) {
                        Some(line) if !line.slots.is_empty() => Err(format!(
                            "node {i} still gives node {killed} slots (promoted: {promoted})"
                        )),
                        _ => Ok(()),
                    }
                })
            },
        );
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].is_running())
    }

    fn index_of_port(&self, port: u16) -> usize {
        self.nodes
            .iter()
            .position(|n| n.port() == port)
            .unwrap_or_else(|| panic!("port {port} is not a node of this cluster"))
    }

    /// Polls `check` until it passes; panics with its last complaint after `within`.
    fn wait_until(
        &self,
        within: Duration,
        what: &str,
        check: impl Fn(&Self) -> Result<(), String>,
    ) {
        let until = Instant::now() + within;
        loop {
            let last = match check(self) {
                Ok(()) => return,
                Err(complaint) => complaint,
            };
            assert!(
                Instant::now() < until,
                "timed out after {within:?} waiting for {what}: {last}"
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Node `i` sees a whole, healthy cluster and, if a replica, is synced to its master.
    fn node_settled(&self, i: usize, count: usize, masters: usize) -> Result<(), String> {
        self.expect_state_ok(i)?;
        let view = self.view_of(i);
        let serving = view
            .iter()
            .filter(|l| l.is_serving_master() && !l.slots.is_empty())
            .count();
        if view.len() != count || serving != masters {
            return Err(format!(
                "node {i} knows {} nodes, {serving} masters with slots",
                view.len()
            ));
        }
        let replication = self.info(i, "replication");
        if info_field(&replication, "role").as_deref() == Some("slave")
            && info_field(&replication, "master_link_status").as_deref() != Some("up")
        {
            return Err(format!("replica {i} is not synced with its master yet"));
        }
        Ok(())
    }

    fn expect_state_ok(&self, i: usize) -> Result<(), String> {
        let info = text_of(self.nodes[i].query(&["CLUSTER", "INFO"]));
        let state = info_field(&info, "cluster_state");
        let slots_ok = info_field(&info, "cluster_slots_ok");
        if state.as_deref() == Some("ok") && slots_ok == Some(CLUSTER_SLOTS.to_string()) {
            Ok(())
        } else {
            Err(format!(
                "node {i}: cluster_state {state:?}, cluster_slots_ok {slots_ok:?}"
            ))
        }
    }

    fn role(&self, i: usize) -> Option<String> {
        info_field(&self.info(i, "replication"), "role")
    }

    fn info(&self, i: usize, section: &str) -> String {
        text_of(self.nodes[i].query(&["INFO", section]))
    }

    /// `CLUSTER NODES` as node `i` sees it.
    fn view_of(&self, i: usize) -> Vec<NodeLine> {
        let text = text_of(self.nodes[i].query(&["CLUSTER", "NODES"]));
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(parse_node_line)
            .collect()
    }
}

/// `<id> <ip:port@bus[,host]> <flags> <master> <ping> <pong> <epoch> <link> <slot>…`;
/// slots being migrated (`[…]`) are skipped.
fn parse_node_line(line: &str) -> NodeLine {
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(fields.len() >= 8, "malformed CLUSTER NODES line: {line}");
    let address = fields[1].split(['@', ',']).next().unwrap_or_default();
    let port = address.rsplit(':').next().and_then(|p| p.parse().ok());
    let slots = fields[8..]
        .iter()
        .filter(|s| !s.starts_with('['))
        .map(|s| {
            let (from, to) = s.split_once('-').unwrap_or((s, s));
            let parse = |n: &str| {
                n.parse::<u16>()
                    .unwrap_or_else(|_| panic!("bad slot in: {line}"))
            };
            (parse(from), parse(to))
        })
        .collect();
    NodeLine {
        id: fields[0].to_string(),
        port: port.unwrap_or_else(|| panic!("no port in CLUSTER NODES line: {line}")),
        flags: fields[2].to_string(),
        master_id: fields[3].to_string(),
        slots,
    }
}

/// The text of a bulk or simple reply; panics on anything else (an error reply).
fn text_of(frame: Frame) -> String {
    match frame.as_bytes() {
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => panic!("expected a text reply, got {frame:?}"),
    }
}
