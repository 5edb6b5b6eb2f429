//! Who is the server of a would-be-blocked record, in SQL: `docs/server.md`'s rule, step for
//! step as `engine::server` decides it, so the query's conversations are `check`'s.
//!
//! A record's two ends are (protocol, srcaddr, srcport) and (protocol, dstaddr, dstport), on
//! the interface addresses. Steps 1-2 (protocols without ports, tcp-flags) and records whose
//! ends cannot be counted are decided by the record alone, in `fg_verdict` ([`early`]). The
//! rest need evidence, gathered from every OK record in the window whatever the policies:
//!
//! ```text
//! fg_fact   each evidence record adds two `End` facts (its src end, its dst end) with the
//!           remote port and whether tcp-flags showed the end as the server; each blocked
//!           record one probe fact per end (one only when decided early)
//! fg_l1     End rows: one per (object, end), min and max remote port, flagged;
//!           Blocked rows: one per (policy, object, 5-tuple, reported addresses) and probe
//! fg_s1     the end each row is about (object, protocol, address, port)
//! fg_s2     fan-in in the object (min <> max remote port); the run's servers (fan-in in
//!           some object, or flagged)
//! fg_s3     service ports: (protocol, port) of run's servers on two or more addresses
//! fg_s4     the dst probe's evidence onto the src probe's row
//! fg_s5     steps 3-6 decide; Blocked rows become (client, server, server port) with the
//!           basis (`sb`); End rows and dst probes are gone
//! ```
//!
//! Every step is a window over the first level's rows, so the table is still read once.

use super::Flavor;
use crate::engine::server::Basis;

/// Protocols whose records carry ports: TCP, UDP, DCCP, SCTP, UDP-Lite.
const PORTED: &str = "6, 17, 33, 132, 136";

/// How a record's server was decided, strongest first (`engine::server::Basis`'s order): a
/// decision is coded `basis * 2 + side`, basis `i + 1` for `BASES[i]`, side 1 when src is the
/// server.
pub(crate) const BASES: [Basis; 7] = [
    Basis::Flags,
    Basis::Protocol,
    Basis::FanIn,
    Basis::Run,
    Basis::ServicePort,
    Basis::PortRange,
    Basis::LowerPort,
];

const FLAGS: u64 = 1;
const PROTOCOL: u64 = 2;
const FAN_IN: u64 = 3;
const RUN: u64 = 4;
const SERVICE_PORT: u64 = 5;
const PORT_RANGE: u64 = 6;
const LOWER_PORT: u64 = 7;

/// Columns of `fg_verdict` (which has `proto`, `tflags`, `sk`, `dk`, `sp`, `dp`, `win`,
/// `st`): `ev`, 1 when the record is evidence (OK, in the window, a protocol with ports and
/// both ends known); `sv0`, the decision of steps 1-2, NULL when evidence must decide.
pub(crate) fn early(f: &dyn Flavor) -> Vec<String> {
    let flag = |bit: u64| format!("{} % 2 = 1", f.idiv("tflags", bit));
    let lower = format!("{} + CASE WHEN sp < dp THEN 1 ELSE 0 END", LOWER_PORT * 2);
    let ends = "sk IS NOT NULL AND dk IS NOT NULL AND sp IS NOT NULL AND dp IS NOT NULL";
    vec![
        format!(
            "CASE WHEN win = 1 AND st = 0 AND proto IN ({PORTED}) AND {ends} THEN 1 ELSE 0 END AS ev"
        ),
        format!(
            "CASE WHEN proto IS NULL THEN {lower} \
             WHEN proto NOT IN ({PORTED}) THEN {} \
             WHEN proto = 6 AND tflags IS NOT NULL AND {} THEN {} \
             WHEN proto = 6 AND tflags IS NOT NULL AND {} THEN {} \
             WHEN NOT ({ends}) THEN {lower} END AS sv0",
            PROTOCOL * 2,
            flag(16),
            FLAGS * 2 + 1,
            flag(2),
            FLAGS * 2,
        ),
    ]
}

/// Whether the end of an `End` fact (`val` 0: src, 1: dst) was flagged as the server.
pub(crate) fn flagged() -> String {
    format!(
        "CASE WHEN (val = 0 AND sv0 = {}) OR (val = 1 AND sv0 = {}) THEN 1 ELSE 0 END",
        FLAGS * 2 + 1,
        FLAGS * 2
    )
}

/// The stages from `fg_l1` to `fg_s5`, whose rows are `fg_l1`'s for every kind but `End`
/// (gone) and `Blocked` (conversations, with `sb`). `kept` are the columns later stages read.
pub(crate) fn stages(
    f: &dyn Flavor,
    end: u64,
    blocked: u64,
    kept: &[&str],
) -> Vec<(&'static str, String)> {
    let probe = format!("kind = {blocked} AND n4 IS NULL");
    let s1 = format!(
        "  SELECT fg_l1.*,\n    \
         CASE WHEN kind = {end} THEN kb WHEN {probe} THEN kc END AS eo,\n    \
         CASE WHEN kind = {end} THEN ka WHEN {probe} THEN CASE WHEN val = 0 THEN kd ELSE ke END END AS ea,\n    \
         CASE WHEN kind = {end} THEN n2 WHEN {probe} THEN CASE WHEN val = 0 THEN n2 ELSE n3 END END AS ep\n  \
         FROM fg_l1"
    );
    let s2 = format!(
        "  SELECT fg_s1.*,\n    \
         MAX(CASE WHEN kind = {end} AND rlo <> rhi THEN 1 ELSE 0 END) \
         OVER (PARTITION BY eo, n1, ea, ep) AS fan,\n    \
         MAX(CASE WHEN kind = {end} AND (rlo <> rhi OR fl = 1) THEN 1 ELSE 0 END) \
         OVER (PARTITION BY n1, ea, ep) AS rsv\n  \
         FROM fg_s1"
    );
    let server_addr = format!("CASE WHEN kind = {end} AND rsv = 1 THEN ea END");
    let s3 = format!(
        "  SELECT fg_s2.*,\n    \
         CASE WHEN MIN({server_addr}) OVER (PARTITION BY n1, ep) \
         < MAX({server_addr}) OVER (PARTITION BY n1, ep) THEN 1 ELSE 0 END AS svc\n  \
         FROM fg_s2"
    );
    let group = "PARTITION BY kind, pol, ka, kb, kc, kd, ke, n1, n2, n3, n4";
    let s4 = format!(
        "  SELECT fg_s3.*,\n    \
         MAX(CASE WHEN val = 1 THEN fan END) OVER ({group}) AS dfan,\n    \
         MAX(CASE WHEN val = 1 THEN rsv END) OVER ({group}) AS drsv,\n    \
         MAX(CASE WHEN val = 1 THEN svc END) OVER ({group}) AS dsvc\n  \
         FROM fg_s3"
    );
    let range = |p: &str| format!("CASE WHEN {p} < 1024 THEN 0 WHEN {p} < 32768 THEN 1 ELSE 2 END");
    let decision = format!(
        "CASE WHEN n4 IS NOT NULL THEN n4 \
         WHEN fan <> dfan THEN {} + fan \
         WHEN rsv <> drsv THEN {} + rsv \
         WHEN svc <> dsvc THEN {} + svc \
         WHEN {r2} <> {r3} THEN {} + CASE WHEN {r2} < {r3} THEN 1 ELSE 0 END \
         ELSE {} + CASE WHEN n2 < n3 THEN 1 ELSE 0 END END",
        FAN_IN * 2,
        RUN * 2,
        SERVICE_PORT * 2,
        PORT_RANGE * 2,
        LOWER_PORT * 2,
        r2 = range("n2"),
        r3 = range("n3"),
    );
    let mut cols: Vec<String> = Vec::new();
    for &c in kept {
        cols.push(match c {
            "val" => format!("CASE WHEN kind = {blocked} THEN NULL ELSE val END AS val"),
            "ka" => format!("CASE WHEN kind = {blocked} THEN CASE WHEN d % 2 = 1 THEN kb ELSE ka END ELSE ka END AS ka"),
            "kb" => format!("CASE WHEN kind = {blocked} THEN CASE WHEN d % 2 = 1 THEN ka ELSE kb END ELSE kb END AS kb"),
            "kc" => format!("CASE WHEN kind = {blocked} THEN NULL ELSE kc END AS kc"),
            "n2" => format!("CASE WHEN kind = {blocked} THEN CASE WHEN d % 2 = 1 THEN n2 ELSE n3 END ELSE n2 END AS n2"),
            other => other.to_string(),
        });
    }
    cols.push(format!(
        "CASE WHEN kind = {blocked} THEN {} END AS sb",
        f.idiv("d", 2)
    ));
    let s5 = format!(
        "  SELECT\n    {}\n  FROM (\n    SELECT fg_s4.*, {decision} AS d FROM fg_s4\n    \
         WHERE kind <> {end} AND (kind <> {blocked} OR val = 0)\n  ) s",
        cols.join(",\n    ")
    );
    vec![
        ("fg_s1", s1),
        ("fg_s2", s2),
        ("fg_s3", s3),
        ("fg_s4", s4),
        ("fg_s5", s5),
    ]
}

/// The name of basis code `expr` (1-7), as reports write it.
pub(crate) fn basis_name(expr: &str) -> String {
    let arms: Vec<String> = BASES
        .iter()
        .enumerate()
        .map(|(i, basis)| format!("WHEN {} THEN '{}'", i + 1, basis.as_str()))
        .collect();
    format!("CASE {expr} {} END", arms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_engine_s_order_of_bases() {
        let coded = [
            (FLAGS, Basis::Flags),
            (PROTOCOL, Basis::Protocol),
            (FAN_IN, Basis::FanIn),
            (RUN, Basis::Run),
            (SERVICE_PORT, Basis::ServicePort),
            (PORT_RANGE, Basis::PortRange),
            (LOWER_PORT, Basis::LowerPort),
        ];
        for (code, basis) in coded {
            assert_eq!(BASES[code as usize - 1], basis);
        }
        assert!(BASES.windows(2).all(|w| w[0] < w[1]), "strongest first");
        assert_eq!(
            basis_name("sb"),
            "CASE sb WHEN 1 THEN 'flags' WHEN 2 THEN 'protocol' WHEN 3 THEN 'fan-in' \
             WHEN 4 THEN 'run' WHEN 5 THEN 'service-port' WHEN 6 THEN 'port-range' \
             WHEN 7 THEN 'lower-port' END"
        );
    }
}
