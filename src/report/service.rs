//! Services: would-be-blocked conversations grouped the way a reviewer reads a failure first.
//!
//! A thousand blocked conversations are usually a handful of services: one protocol and
//! server port, reached at a few servers by many clients. Grouping by (protocol, server port)
//! and summarising the servers as the fewest networks that hold exactly them gives the line a
//! reviewer needs before the per-conversation table: "udp 8125 to 5 servers (10.20.2.44/31,
//! 10.20.30.8 ...) from 210 clients: 1,017 conversations, 2,310 records".

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::text::thousands;

use super::{protocol_name, Conversation};

/// Server networks named in a service's one-line description.
const NETWORKS_SHOWN: usize = 3;

/// Would-be-blocked conversations of one protocol and server port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Service {
    pub protocol: Option<u8>,
    pub server_port: Option<u16>,
    /// The servers as the fewest networks that hold exactly them (`10.20.2.44/31`), addresses
    /// first by family and value.
    pub server_networks: Vec<String>,
    pub servers: u64,
    pub clients: u64,
    pub conversations: u64,
    pub records: u64,
    pub packets: u64,
    pub bytes: u64,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
    /// Whether the run's bound dropped some of its conversations: records, packets, bytes
    /// and times still count every one, `servers`, `clients` and `conversations` only the
    /// sample's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sampled: bool,
}

#[derive(Default)]
struct Group {
    servers: BTreeSet<IpAddr>,
    clients: BTreeSet<IpAddr>,
    unknown_server: bool,
    conversations: u64,
    records: u64,
    packets: u64,
    bytes: u64,
    first_start: Option<u64>,
    last_end: Option<u64>,
}

/// The services of `conversations`, most records first (then by protocol and port).
pub fn services(conversations: &[Conversation]) -> Vec<Service> {
    let mut groups: BTreeMap<(Option<u8>, Option<u16>), Group> = BTreeMap::new();
    for c in conversations {
        let g = groups.entry((c.protocol, c.server_port)).or_default();
        match c.server {
            Some(s) => {
                g.servers.insert(s);
            }
            None => g.unknown_server = true,
        }
        g.clients.extend(c.client);
        g.conversations += 1;
        g.records += c.records;
        g.packets += c.packets;
        g.bytes += c.bytes;
        g.first_start = match (g.first_start, c.first_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        g.last_end = g.last_end.max(c.last_end);
    }
    let mut out: Vec<Service> = groups
        .into_iter()
        .map(|((protocol, server_port), g)| {
            let nets: Vec<IpNet> = g.servers.iter().map(|&a| IpNet::from(a)).collect();
            let mut server_networks: Vec<String> = IpNet::aggregate(&nets)
                .into_iter()
                .map(|n| {
                    if n.prefix_len() == n.max_prefix_len() {
                        n.addr().to_string()
                    } else {
                        n.to_string()
                    }
                })
                .collect();
            if g.unknown_server {
                server_networks.push("-".into());
            }
            Service {
                protocol,
                server_port,
                server_networks,
                servers: g.servers.len() as u64 + u64::from(g.unknown_server),
                clients: g.clients.len() as u64,
                conversations: g.conversations,
                records: g.records,
                packets: g.packets,
                bytes: g.bytes,
                first_start: g.first_start,
                last_end: g.last_end,
                sampled: false,
            }
        })
        .collect();
    sort(&mut out);
    out
}

/// Most records first, then by protocol and port.
fn sort(services: &mut [Service]) {
    services.sort_by(|a, b| {
        b.records
            .cmp(&a.records)
            .then_with(|| (a.protocol, a.server_port).cmp(&(b.protocol, b.server_port)))
    });
}

/// Adds the sums of the conversations the run's bound dropped to their services (a service
/// the sample holds none of appears with its sums alone), and marks those services sampled.
pub fn add_dropped(services: &mut Vec<Service>, dropped: &crate::engine::bound::Dropped) {
    for (&(protocol, server_port), d) in &dropped.services {
        let at = services
            .iter()
            .position(|s| (s.protocol, s.server_port) == (protocol, server_port));
        let s = match at {
            Some(i) => &mut services[i],
            None => {
                services.push(Service {
                    protocol,
                    server_port,
                    server_networks: Vec::new(),
                    servers: 0,
                    clients: 0,
                    conversations: 0,
                    records: 0,
                    packets: 0,
                    bytes: 0,
                    first_start: None,
                    last_end: None,
                    sampled: true,
                });
                services.last_mut().expect("just pushed")
            }
        };
        s.sampled = true;
        s.records += d.records;
        s.packets = s.packets.saturating_add(d.packets);
        s.bytes = s.bytes.saturating_add(d.bytes);
        s.first_start = match (s.first_start, d.first_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        s.last_end = s.last_end.max(d.last_end);
    }
    sort(services);
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

impl Service {
    /// `udp 8125`, `icmp`, `tcp -` (no port).
    pub fn name(&self) -> String {
        match (self.protocol, self.server_port) {
            // ICMP's "ports" are type and code, never a service.
            (Some(1 | 58), _) => protocol_name(self.protocol),
            (p, Some(port)) => format!("{} {port}", protocol_name(p)),
            (p, None) => protocol_name(p),
        }
    }

    /// `5 servers (10.20.2.44/31, 10.20.30.8 …)` or `10.20.40.12`.
    pub fn servers_text(&self) -> String {
        if self.servers == 1 {
            return self.server_networks.first().cloned().unwrap_or_default();
        }
        let shown: Vec<&str> = self
            .server_networks
            .iter()
            .take(NETWORKS_SHOWN)
            .map(String::as_str)
            .collect();
        let more = if self.server_networks.len() > NETWORKS_SHOWN {
            " …"
        } else {
            ""
        };
        format!(
            "{} ({}{more})",
            plural(self.servers, "server", "servers"),
            shown.join(", ")
        )
    }

    /// `udp 8125 to 5 servers (10.20.2.44/31, 10.20.30.8 …) from 210 clients: 1,017
    /// conversations, 2,310 records`. Addresses and counts only: needs no cleaning.
    pub fn describe(&self) -> String {
        if self.sampled {
            // The bound dropped some: the records count every one, the rest the sample's.
            let sample = if self.conversations == 0 {
                "none in the sample".to_string()
            } else {
                format!(
                    "in the sample {} to {} from {}",
                    plural(self.conversations, "conversation", "conversations"),
                    self.servers_text(),
                    plural(self.clients, "client", "clients"),
                )
            };
            return format!(
                "{}: {}; {sample}",
                self.name(),
                plural(self.records, "record", "records")
            );
        }
        format!(
            "{} to {} from {}: {}, {}",
            self.name(),
            self.servers_text(),
            plural(self.clients, "client", "clients"),
            plural(self.conversations, "conversation", "conversations"),
            plural(self.records, "record", "records"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Location;

    fn conv(proto: u8, client: &str, server: &str, port: u16, records: u64) -> Conversation {
        Conversation {
            protocol: Some(proto),
            client: client.parse().ok(),
            server: server.parse().ok(),
            server_port: Some(port),
            records,
            packets: records,
            bytes: records * 100,
            first_start: Some(100),
            last_end: Some(200),
            example: Location {
                archive: "a.log".into(),
                line: 1,
                unit: crate::flowlog::Unit::Line,
            },
            expired_waiver: None,
            server_by: crate::engine::server::Basis::Flags,
        }
    }

    #[test]
    fn services_group_by_protocol_and_port_with_servers_as_networks() {
        let mut list = Vec::new();
        for (i, server) in [
            "10.20.2.44",
            "10.20.2.45",
            "10.20.30.8",
            "10.20.31.1",
            "10.20.31.3",
        ]
        .into_iter()
        .enumerate()
        {
            for c in 0..42 {
                list.push(conv(17, &format!("10.0.{i}.{c}"), server, 8125, 2));
            }
        }
        list.push(conv(6, "10.0.9.9", "10.20.40.12", 1433, 500));
        let s = services(&list);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0].describe(),
            "tcp 1433 to 10.20.40.12 from 1 client: 1 conversation, 500 records"
        );
        assert_eq!(
            s[1].describe(),
            "udp 8125 to 5 servers (10.20.2.44/31, 10.20.30.8, 10.20.31.1 …) from 210 clients: 210 conversations, 420 records"
        );
        assert_eq!(s[1].server_networks.len(), 4);
    }
}
