//! The field list of an archive: every field AWS documents, and the header line that names them.
//!
//! A flow log's format is fixed when it is created, so each archive carries its own field order
//! in its first line. CloudWatch and Firehose exports have no header; their format comes from
//! the user (`--log-format`), in AWS's `${field}` syntax or as a plain list. Knowing every
//! documented field by name lets a policy ask for `vpc-id` or `pkt-srcaddr` and get a clear
//! error, rather than a silent non-match, when an archive does not have it.

use std::fmt;

/// The most columns a format may have. AWS documents 54 VPC fields and 36 Transit Gateway
/// fields; a header far beyond that is not a flow-log header.
pub const MAX_FIELDS: usize = 128;

macro_rules! fields {
    ($($variant:ident = $name:literal, $version:literal;)*) => {
        /// A field documented by AWS for VPC or Transit Gateway flow logs.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Field { $($variant,)* }

        impl Field {
            /// Every known field, in documentation order.
            pub const ALL: &'static [Field] = &[$(Field::$variant,)*];
            /// Number of known fields.
            pub const COUNT: usize = Self::ALL.len();

            /// The name AWS uses in headers and `${...}` format strings.
            pub fn name(self) -> &'static str {
                match self { $(Field::$variant => $name,)* }
            }

            /// The flow-log version that introduced the field (6 = Transit Gateway).
            pub fn version(self) -> u8 {
                match self { $(Field::$variant => $version,)* }
            }
        }
    };
}

fields! {
    Version = "version", 2;
    AccountId = "account-id", 2;
    InterfaceId = "interface-id", 2;
    SrcAddr = "srcaddr", 2;
    DstAddr = "dstaddr", 2;
    SrcPort = "srcport", 2;
    DstPort = "dstport", 2;
    Protocol = "protocol", 2;
    Packets = "packets", 2;
    Bytes = "bytes", 2;
    Start = "start", 2;
    End = "end", 2;
    Action = "action", 2;
    LogStatus = "log-status", 2;
    VpcId = "vpc-id", 3;
    SubnetId = "subnet-id", 3;
    InstanceId = "instance-id", 3;
    TcpFlags = "tcp-flags", 3;
    Type = "type", 3;
    PktSrcAddr = "pkt-srcaddr", 3;
    PktDstAddr = "pkt-dstaddr", 3;
    Region = "region", 4;
    AzId = "az-id", 4;
    SublocationType = "sublocation-type", 4;
    SublocationId = "sublocation-id", 4;
    PktSrcAwsService = "pkt-src-aws-service", 5;
    PktDstAwsService = "pkt-dst-aws-service", 5;
    FlowDirection = "flow-direction", 5;
    TrafficPath = "traffic-path", 5;
    EcsClusterArn = "ecs-cluster-arn", 7;
    EcsClusterName = "ecs-cluster-name", 7;
    EcsContainerInstanceArn = "ecs-container-instance-arn", 7;
    EcsContainerInstanceId = "ecs-container-instance-id", 7;
    EcsContainerId = "ecs-container-id", 7;
    EcsSecondContainerId = "ecs-second-container-id", 7;
    EcsServiceName = "ecs-service-name", 7;
    EcsTaskDefinitionArn = "ecs-task-definition-arn", 7;
    EcsTaskArn = "ecs-task-arn", 7;
    EcsTaskId = "ecs-task-id", 7;
    RejectReason = "reject-reason", 8;
    ResourceId = "resource-id", 9;
    EncryptionStatus = "encryption-status", 10;
    InstanceTag = "instance-tag", 11;
    InstanceTag2 = "instance-tag-2", 11;
    InterfaceTag = "interface-tag", 11;
    InterfaceTag2 = "interface-tag-2", 11;
    AsgTag = "asg-tag", 11;
    AsgTag2 = "asg-tag-2", 11;
    InterfaceType = "interface-type", 11;
    NextHopInterfaceId = "next-hop-interface-id", 11;
    NextHopSubnetId = "next-hop-subnet-id", 11;
    NextHopAzId = "next-hop-az-id", 11;
    NextHopVpcId = "next-hop-vpc-id", 11;
    NextHopInterfaceType = "next-hop-interface-type", 11;
    ResourceType = "resource-type", 6;
    TgwId = "tgw-id", 6;
    TgwAttachmentId = "tgw-attachment-id", 6;
    TgwSrcVpcAccountId = "tgw-src-vpc-account-id", 6;
    TgwDstVpcAccountId = "tgw-dst-vpc-account-id", 6;
    TgwSrcVpcId = "tgw-src-vpc-id", 6;
    TgwDstVpcId = "tgw-dst-vpc-id", 6;
    TgwSrcSubnetId = "tgw-src-subnet-id", 6;
    TgwDstSubnetId = "tgw-dst-subnet-id", 6;
    TgwSrcEni = "tgw-src-eni", 6;
    TgwDstEni = "tgw-dst-eni", 6;
    TgwSrcAzId = "tgw-src-az-id", 6;
    TgwDstAzId = "tgw-dst-az-id", 6;
    TgwPairAttachmentId = "tgw-pair-attachment-id", 6;
    PacketsLostNoRoute = "packets-lost-no-route", 6;
    PacketsLostBlackhole = "packets-lost-blackhole", 6;
    PacketsLostMtuExceeded = "packets-lost-mtu-exceeded", 6;
    PacketsLostTtlExpired = "packets-lost-ttl-expired", 6;
}

impl Field {
    /// Looks a field up by name. Parquet and Athena spell names with `_` instead of `-`;
    /// both spellings are accepted so a format copied from either works.
    pub fn from_name(name: &str) -> Option<Field> {
        if name.is_empty() || name.len() > 32 {
            return None;
        }
        let mut buf = [0u8; 32];
        for (dst, &b) in buf.iter_mut().zip(name.as_bytes()) {
            *dst = match b {
                b'_' => b'-',
                b'A'..=b'Z' => b.to_ascii_lowercase(),
                _ => b,
            };
        }
        let wanted = &buf[..name.len()];
        Field::ALL
            .iter()
            .copied()
            .find(|f| f.name().as_bytes() == wanted)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One column of a format: a known field, or a name flowgate carries without reading.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    Known(Field),
    Unknown(String),
}

impl Column {
    pub fn name(&self) -> &str {
        match self {
            Column::Known(f) => f.name(),
            Column::Unknown(s) => s,
        }
    }
}

/// The ordered columns of an archive and, for each known field, where it sits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Format {
    columns: Vec<Column>,
    position: Vec<Option<u8>>,
    /// The known field of each column, for the record parser's single pass.
    slots: Vec<Option<Field>>,
    /// Whether this is AWS's default (version 2) format, which the record parser reads with
    /// code written for it.
    default_v2: bool,
}

/// Why a header line or `--log-format` value is not a usable format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("the format names no field")]
    Empty,
    #[error("the format has {0} fields; flowgate reads at most {MAX_FIELDS}")]
    TooMany(usize),
    #[error("field `{0}` appears twice in the format")]
    Duplicate(String),
    #[error("`{0}` is not a field name")]
    BadName(String),
    #[error("the format names no field flowgate knows (first: `{0}`)")]
    NoKnownField(String),
}

impl Format {
    /// AWS's default format (version 2), the one most S3 archives use.
    pub fn default_v2() -> Format {
        Format::from_columns(Field::ALL[..14].iter().map(|&f| Column::Known(f)).collect())
            .expect("the default format is valid")
    }

    /// Builds a format from column names, rejecting duplicates, blanks and formats that name
    /// no known field (those cannot be flow logs).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Format, FormatError> {
        let columns = names
            .into_iter()
            .map(|n| match Field::from_name(n) {
                Some(f) => Ok(Column::Known(f)),
                None if is_name_like(n) => Ok(Column::Unknown(n.to_string())),
                None => Err(FormatError::BadName(n.to_string())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Format::from_columns(columns)
    }

    fn from_columns(columns: Vec<Column>) -> Result<Format, FormatError> {
        if columns.is_empty() {
            return Err(FormatError::Empty);
        }
        if columns.len() > MAX_FIELDS {
            return Err(FormatError::TooMany(columns.len()));
        }
        let mut position = vec![None; Field::COUNT];
        let mut unknown = std::collections::HashSet::new();
        for (i, c) in columns.iter().enumerate() {
            let duplicate = match c {
                Column::Known(f) => position[*f as usize].replace(i as u8).is_some(),
                Column::Unknown(n) => !unknown.insert(n.as_str()),
            };
            if duplicate {
                return Err(FormatError::Duplicate(c.name().to_string()));
            }
        }
        if position.iter().all(Option::is_none) {
            return Err(FormatError::NoKnownField(columns[0].name().to_string()));
        }
        let slots = columns
            .iter()
            .map(|c| match c {
                Column::Known(f) => Some(*f),
                Column::Unknown(_) => None,
            })
            .collect();
        let default_v2 = columns.len() == 14
            && columns
                .iter()
                .zip(&Field::ALL[..14])
                .all(|(c, f)| *c == Column::Known(*f));
        Ok(Format {
            columns,
            position,
            slots,
            default_v2,
        })
    }

    /// Parses `--log-format`: AWS's `${version} ${srcaddr} ...` syntax or a plain list of names,
    /// separated by spaces (commas are accepted too, as people paste them from consoles).
    pub fn parse_spec(spec: &str) -> Result<Format, FormatError> {
        let names: Vec<&str> = spec
            .split(|c: char| c.is_ascii_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.strip_prefix("${")
                    .and_then(|t| t.strip_suffix('}'))
                    .unwrap_or(t)
            })
            .collect();
        Format::from_names(names)
    }

    /// Recognises a header line by its content: every token looks like a field name and most
    /// of them are names flowgate knows. Position alone is not enough: concatenated files repeat
    /// headers mid-stream, and CloudWatch exports have none at all. A data line never passes,
    /// since it holds numbers, addresses or `-`.
    pub fn from_header_line(line: &[u8]) -> Option<Result<Format, FormatError>> {
        // Every line passes through here, so reject data lines before allocating anything: the
        // first token that is not a name (a number, an address, `-`) settles it, and for most
        // records its first byte does (names start with a letter; records with a digit).
        let first = line.iter().find(|b| **b != b' ' && **b != b'\t');
        if !first.is_some_and(u8::is_ascii_alphabetic) {
            return None;
        }
        let mut names = line
            .split(|b| *b == b' ' || *b == b'\t')
            .filter(|t| !t.is_empty());
        if !names.all(is_name_like_bytes) {
            return None;
        }
        let text = std::str::from_utf8(line).ok()?;
        let tokens: Vec<&str> = text.split_ascii_whitespace().collect();
        if tokens.is_empty() || !tokens.iter().all(|t| is_name_like(t)) {
            return None;
        }
        let known = tokens
            .iter()
            .filter(|t| Field::from_name(t).is_some())
            .count();
        if known > 0 && tokens.len() > MAX_FIELDS {
            // Past MAX_FIELDS a header can never be mostly known names (there are only
            // Field::COUNT of them), so without this it would pass as "no header at all".
            return Some(Err(FormatError::TooMany(tokens.len())));
        }
        if known == 0 || known * 2 < tokens.len() {
            return None;
        }
        Some(Format::from_names(tokens))
    }

    /// The columns in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Number of columns; every record must have exactly this many tokens.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Always false: a format has at least one column.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Where `field` sits in a record, if the format has it.
    #[inline]
    pub fn position(&self, field: Field) -> Option<usize> {
        self.position[field as usize].map(usize::from)
    }

    /// The known field in each column (`None` for columns flowgate carries without reading).
    #[inline]
    pub(crate) fn is_default_v2(&self) -> bool {
        self.default_v2
    }

    pub fn slots(&self) -> &[Option<Field>] {
        &self.slots
    }

    /// Whether the format carries `field`.
    pub fn has(&self, field: Field) -> bool {
        self.position(field).is_some()
    }

    /// Names of columns flowgate carries without reading.
    pub fn unknown_columns(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().filter_map(|c| match c {
            Column::Unknown(n) => Some(n.as_str()),
            Column::Known(_) => None,
        })
    }

    /// The header line AWS would write for this format.
    pub fn header(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(Column::name).collect();
        names.join(" ")
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header())
    }
}

/// Field names are lower-case words joined by `-` (or `_`), possibly with digits.
fn is_name_like(token: &str) -> bool {
    is_name_like_bytes(token.as_bytes())
}

fn is_name_like_bytes(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_field_is_known_once() {
        // 14 (v2) + 7 (v3) + 4 (v4) + 4 (v5) + 10 (v7) + 3 (v8-v10) + 12 (v11) + 18 (TGW only)
        assert_eq!(Field::COUNT, 14 + 7 + 4 + 4 + 10 + 3 + 12 + 18);
        for f in Field::ALL {
            assert_eq!(Field::from_name(f.name()), Some(*f));
        }
    }

    #[test]
    fn underscore_spelling_is_accepted() {
        assert_eq!(Field::from_name("pkt_srcaddr"), Some(Field::PktSrcAddr));
        assert_eq!(Field::from_name("LOG_STATUS"), Some(Field::LogStatus));
        assert_eq!(Field::from_name("nope"), None);
    }

    #[test]
    fn default_header_is_recognised() {
        let line = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
        let f = Format::from_header_line(line).unwrap().unwrap();
        assert_eq!(f, Format::default_v2());
        assert_eq!(f.position(Field::LogStatus), Some(13));
        assert!(!f.has(Field::VpcId));
    }

    #[test]
    fn data_lines_and_junk_are_not_headers() {
        assert!(Format::from_header_line(b"2 210987654321 eni-0a7c91d2e4b5f6071 10.8.4.17 10.8.9.200 51234 22 6 17 3911 1762052400 1762052460 ACCEPT OK").is_none());
        assert!(Format::from_header_line(b"bogus line").is_none());
        assert!(Format::from_header_line(b"").is_none());
    }

    #[test]
    fn unknown_fields_are_carried() {
        let f = Format::from_header_line(b"version srcaddr dstaddr future-field")
            .unwrap()
            .unwrap();
        assert_eq!(f.unknown_columns().collect::<Vec<_>>(), ["future-field"]);
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn duplicate_and_oversized_headers_are_errors() {
        assert_eq!(
            Format::from_header_line(b"version srcaddr srcaddr").unwrap(),
            Err(FormatError::Duplicate("srcaddr".into()))
        );
        let mut long = String::from("version srcaddr dstaddr");
        for i in 0..200 {
            long.push_str(&format!(" x{i}"));
        }
        // More names than any format has: a header, and too long.
        assert_eq!(
            Format::from_header_line(long.as_bytes()).unwrap(),
            Err(FormatError::TooMany(203))
        );
        // Mostly unknown names: not a header at all.
        assert!(Format::from_header_line(b"version a b c").is_none());
        let names: Vec<String> = (0..200).map(|i| format!("srcaddr{i}")).collect();
        let mut spec = String::from("version");
        for n in &names {
            spec.push(' ');
            spec.push_str(n);
        }
        assert_eq!(Format::parse_spec(&spec), Err(FormatError::TooMany(201)));
    }

    #[test]
    fn log_format_accepts_aws_syntax_and_plain_lists() {
        let aws = Format::parse_spec("${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}").unwrap();
        assert_eq!(aws, Format::default_v2());
        let plain =
            Format::parse_spec("instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr")
                .unwrap();
        assert_eq!(plain.position(Field::PktDstAddr), Some(5));
        assert_eq!(Format::parse_spec("  "), Err(FormatError::Empty));
        assert_eq!(
            Format::parse_spec("${srcaddr} 1.2.3.4"),
            Err(FormatError::BadName("1.2.3.4".into()))
        );
    }

    mod props {
        //! The header parser and the `--log-format` parser take arbitrary input without
        //! panicking, and what they accept reads back the same from its own header line.
        use super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            prop_oneof![
                proptest::sample::select(Field::ALL.to_vec()).prop_map(|f| f.name().to_string()),
                "[a-z][a-z0-9_-]{0,8}",
                "[a-z]{60,70}",
                "\\$\\{[a-z-]{0,12}\\}?",
                ".{0,8}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn arbitrary_header_lines_never_panic(line in proptest::collection::vec(any::<u8>(), 0..600)) {
                if let Some(Ok(f)) = Format::from_header_line(&line) {
                    prop_assert!(f.len() <= MAX_FIELDS);
                }
            }

            #[test]
            fn name_lists_as_headers_and_specs_round_trip(
                names in proptest::collection::vec(name(), 0..140),
                sep in proptest::sample::select(vec![" ", "  ", "\t", ",", ", "]),
            ) {
                let line = names.join(sep);
                if let Some(Ok(f)) = Format::from_header_line(line.as_bytes()) {
                    prop_assert_eq!(Format::from_header_line(f.header().as_bytes()), Some(Ok(f.clone())));
                }
                match Format::parse_spec(&line) {
                    Ok(f) => {
                        prop_assert!(f.len() <= MAX_FIELDS);
                        prop_assert_eq!(Format::parse_spec(&f.header()), Ok(f));
                    }
                    Err(e) => prop_assert!(!e.to_string().is_empty()),
                }
            }

            #[test]
            fn arbitrary_log_format_strings_never_panic(spec in any::<String>()) {
                let _ = Format::parse_spec(&spec);
            }
        }
    }
}
