//! The first stages of the query, which read the table: its columns as text (`fg_raw`), the
//! addresses as numbers (`fg_a1..a3`) and each record's typed values and flags (`fg_rec`).
//! Kept apart from the judging stages in [`query`](super) because they do not depend on the
//! policies, only on the table and the dialect.

use super::*;

impl Q<'_> {
    /// The table's columns as text, `-` and the empty string as NULL. Address text is
    /// lowercased (IPv6 hex digits are case-insensitive).
    pub(super) fn raw(&self) -> String {
        let f = self.f;
        let mut cols = vec![
            format!("{} AS obj", self.text(&f.ident(OBJECT_COLUMN))),
            format!("{} AS fmt", self.text(&f.ident(FORMAT_COLUMN))),
        ];
        let absent = |field: Field| {
            let t = self.text(&f.ident(&column_name(field)));
            format!("NULLIF(NULLIF({t}, '-'), '')")
        };
        for (field, p) in ADDRESSES {
            cols.push(format!("lower({}) AS {p}a", absent(field)));
        }
        for (field, col, _) in NUMBERS {
            cols.push(format!("{} AS {col}_t", absent(field)));
        }
        for (field, col, _) in WORDS {
            cols.push(format!("{} AS {col}", absent(field)));
        }
        for (field, col) in IDS {
            cols.push(format!("{} AS {col}", absent(field)));
        }
        self.select(&cols, &self.options.table)
    }

    /// A dotted quad's value: `text` must match [`V4`].
    fn v4_value(&self, text: &str) -> String {
        let octet = |k| self.bigint(&format!("split_part({text}, '.', {k})"));
        format!(
            "{} * 16777216 + {} * 65536 + {} * 256 + {}",
            octet(1),
            octet(2),
            octet(3),
            octet(4)
        )
    }

    /// Addresses, step 1: IPv4 as an integer; where the last `:` of an IPv6 text is.
    pub(super) fn addresses_1(&self) -> String {
        let f = self.f;
        let mut cols = vec!["*".to_string()];
        for (_, p) in ADDRESSES {
            let a = format!("{p}a");
            cols.push(format!(
                "CASE WHEN {a} IS NOT NULL AND {} THEN {} END AS {p}4",
                f.matches(&a, V4),
                self.v4_value(&a)
            ));
            // Counted from the end; 0 for text without `:` (not IPv6) or too long for it.
            cols.push(format!(
                "CASE WHEN {a} IS NOT NULL AND length({a}) <= 45 THEN {} ELSE 0 END AS {p}_lc",
                f.strpos(&format!("reverse({a})"), "':'")
            ));
        }
        self.select(&cols, "fg_raw")
    }

    /// Step 2: the IPv6 text, its IPv4 tail (if any) written as two hex groups, and its
    /// halves around `::`.
    pub(super) fn addresses_2(&self) -> String {
        let f = self.f;
        let mut cols = vec!["*".to_string()];
        for (_, p) in ADDRESSES {
            let (a, lc) = (format!("{p}a"), format!("{p}_lc"));
            let tail = format!("substr({a}, length({a}) - {lc} + 2)");
            let head = format!("substr({a}, 1, length({a}) - {lc} + 1)");
            let octet = |k| self.bigint(&format!("split_part({tail}, '.', {k})"));
            let x = format!(
                "CASE WHEN {lc} = 0 THEN NULL WHEN {} = 0 THEN {a} \
                 WHEN {} THEN {head} || {} || ':' || {} END",
                f.strpos(&a, "'.'"),
                f.matches(&tail, V4),
                f.hex4(&format!("{} * 256 + {}", octet(1), octet(2))),
                f.hex4(&format!("{} * 256 + {}", octet(3), octet(4))),
            );
            cols.push(format!("{x} AS {p}_x"));
        }
        self.select(&cols, "fg_a1")
    }

    /// Step 3: `::` refilled with the zero groups it stands for (one at least), so eight
    /// groups remain; NULL when the text cannot be an IPv6 address.
    pub(super) fn addresses_3(&self) -> String {
        let f = self.f;
        let mut cols = vec!["*".to_string()];
        for (_, p) in ADDRESSES {
            let x = format!("{p}_x");
            let left = format!("COALESCE(split_part({x}, '::', 1), '')");
            let right = format!("COALESCE(split_part({x}, '::', 2), '')");
            let groups = |t: &str| {
                format!("CASE WHEN {t} = '' THEN 0 ELSE length({t}) - length(replace({t}, ':', '')) + 1 END")
            };
            let zeros = format!("(8 - ({}) - ({}))", groups(&left), groups(&right));
            let double = f.strpos(&x, "'::'");
            let twice = f.strpos(&format!("substr({x}, {double} + 2)"), "'::'");
            cols.push(format!(
                "CASE WHEN {x} IS NULL OR NOT {} THEN NULL \
                 WHEN {double} = 0 THEN {x} \
                 WHEN {twice} > 0 OR {zeros} < 1 THEN NULL \
                 ELSE {left} || CASE WHEN {left} = '' THEN '' ELSE ':' END \
                 || substr('0:0:0:0:0:0:0:0', 1, 2 * {zeros} - 1) \
                 || CASE WHEN {right} = '' THEN '' ELSE ':' || {right} END END AS {p}_y",
                f.matches(&x, "^[0-9a-f:]+$"),
            ));
        }
        self.select(&cols, "fg_a2")
    }

    /// Typed values, the problem and window flags, the policy-independent columns.
    pub(super) fn rec(&self) -> String {
        let f = self.f;
        let mut cols: Vec<String> = [
            "obj", "fmt", "iface", "vpc", "subnet", "inst", "act", "lst", "dir",
        ]
        .map(String::from)
        .to_vec();
        let mut bad = Vec::new();
        for (_, p) in ADDRESSES {
            let y = format!("{p}_y");
            let groups: Vec<String> = (1..=8)
                .map(|k| format!("lpad(split_part({y}, ':', {k}), 4, '0')"))
                .collect();
            cols.push(format!("{p}4"));
            cols.push(format!(
                "CASE WHEN {p}4 IS NULL AND {y} IS NOT NULL AND {} THEN {} END AS {p}6",
                f.matches(&y, V6_FULL),
                groups.join(" || ")
            ));
            cols.push(format!("{p}a"));
        }
        for (_, col, max) in NUMBERS {
            let t = format!("{col}_t");
            let value = format!(
                "CASE WHEN {t} IS NOT NULL AND {} THEN {} END",
                f.matches(&t, DIGITS),
                self.bigint(&t)
            );
            cols.push(format!("{value} AS {col}"));
            bad.push(format!(
                "({t} IS NOT NULL AND NOT COALESCE(({value}) <= {max}, FALSE))"
            ));
        }
        for (_, col, words) in WORDS {
            let list: Vec<String> = words.iter().map(|w| f.string(w)).collect();
            bad.push(format!(
                "({col} IS NOT NULL AND {col} NOT IN ({}))",
                list.join(", ")
            ));
        }
        cols.push(format!(
            "CASE WHEN {} THEN 1 ELSE 0 END AS problem",
            bad.join("\n      OR ")
        ));
        let inner = self.select(&cols, "fg_a3");
        // One text per address, whatever its spelling: the dotted quad (which has one
        // spelling the reader takes) or the 32 hex digits. An address that is neither is a
        // problem, as a start after the end is.
        let mut outer = vec!["r.*".to_string()];
        let mut bad_addr = Vec::new();
        for (_, p) in ADDRESSES {
            outer.push(format!(
                "CASE WHEN {p}4 IS NOT NULL THEN {p}a ELSE {p}6 END AS {p}k"
            ));
            bad_addr.push(format!(
                "({p}a IS NOT NULL AND {p}4 IS NULL AND {p}6 IS NULL)"
            ));
        }
        let bad = format!(
            "(problem = 1 OR COALESCE(ts > te, FALSE) OR {})",
            bad_addr.join(" OR ")
        );
        outer.push(format!("CASE WHEN {bad} THEN 1 ELSE 0 END AS bad"));
        let mut window = vec![format!("NOT {bad}")];
        if let Some(since) = self.options.since {
            window.push(format!("COALESCE(te, ts, {since}) >= {since}"));
        }
        if let Some(until) = self.options.until {
            window.push(format!(
                "COALESCE(ts, te, {}) < {until}",
                until.saturating_sub(1)
            ));
        }
        outer.push(format!(
            "CASE WHEN {} THEN 1 ELSE 0 END AS win",
            window.join(" AND ")
        ));
        outer.push("CASE lst WHEN 'NODATA' THEN 1 WHEN 'SKIPDATA' THEN 2 ELSE 0 END AS st".into());
        self.select(&outer, &format!("(\n{inner}\n  ) r"))
    }
}
