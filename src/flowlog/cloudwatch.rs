//! Flow logs that went through CloudWatch Logs, in the four shapes they reach a user in.
//!
//! A flow log published to CloudWatch Logs writes one log event per record to a stream per
//! interface (`eni-…-all`); the event's message is the record's line, and no header line
//! exists anywhere. The records come out as:
//!
//! - **Firehose objects**: a subscription filter sends batches to Kinesis Data Firehose,
//!   which writes them to S3 as they came: gzip members, each one JSON `DATA_MESSAGE`
//!   (`owner`, `logGroup`, `logStream`, `logEvents[].message`) or `CONTROL_MESSAGE` (a health
//!   check, no records), with no separator and no file extension;
//! - **subscription payloads**: one such message decoded, or the raw form a Lambda function
//!   receives, `{"awslogs":{"data":"<base64 of the gzip>"}}`;
//! - **log events**: `aws logs filter-log-events` / `get-log-events` output, JSON with
//!   `events[].message` (concatenated pages, a bare array, or one event per line);
//! - **export-task lines**: `create-export-task` writes gzip text whose lines are an ISO-8601
//!   timestamp, a space and the message.
//!
//! All are recognised by content (the caller saw JSON, or a timestamp at the start of the
//! first line), never by name. The messages have no header, so their format is the user's
//! `--log-format`, or else AWS's default format for each message that fits it (14 fields,
//! version 2, every value valid): a message that does not fit is a problem that shows it and
//! asks for `--log-format`, never a guess at another format.

pub mod copy;
mod values;

use std::borrow::Cow;
use std::io::Read;

use serde::Deserialize;

pub use values::{Values, ValuesError, MAX_VALUE};

use super::archive::Lines;
use super::format::Format;
use super::kind::{CloudWatchShape, Kind, Unit};
use super::lines::Line;
use super::record::{Flow, RecordError};
use super::sink::{Delivery, Problem, Sink};
use crate::source::Archive;

/// A subscription payload decoded from `awslogs.data` is read up to this size: CloudWatch
/// caps a batch at 1 MB, so this is far above any real one and bounds a decompression bomb.
const MAX_PAYLOAD: u64 = 64 << 20;

/// Counts of what one object held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Log events (or export lines) read, records or not.
    pub events: u64,
    pub records: u64,
    pub problems: u64,
    /// CONTROL_MESSAGEs skipped.
    pub control: u64,
}

/// One JSON object of a CloudWatch delivery, whichever shape it has: every key of every
/// shape, all optional. Strings borrow from the text unless they hold escapes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shape<'a> {
    #[serde(borrow)]
    message_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    owner: Option<Cow<'a, str>>,
    #[serde(borrow)]
    log_group: Option<Cow<'a, str>>,
    #[serde(borrow)]
    log_stream: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "events")]
    log_events: Option<Vec<Event<'a>>>,
    #[serde(borrow, default, deserialize_with = "events")]
    events: Option<Vec<Event<'a>>>,
    #[serde(borrow)]
    awslogs: Option<AwsLogs<'a>>,
    /// A single event, as `jq -c '.events[]'` writes them one per line.
    #[serde(borrow)]
    message: Option<Message<'a>>,
    #[serde(borrow)]
    log_stream_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    #[serde(borrow)]
    message: Option<Message<'a>>,
    #[serde(borrow)]
    log_stream_name: Option<Cow<'a, str>>,
}

/// A message's bytes as the JSON string holds them, borrowed unless it has escapes. Taken as
/// bytes, not `str`: the record parser checks every byte, so serde need not check UTF-8 first.
struct Message<'a>(Cow<'a, [u8]>);

impl<'de: 'a, 'a> Deserialize<'de> for Message<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Bytes<'a> {
            type Value = Message<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(Message(Cow::Borrowed(v)))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(Message(Cow::Owned(v.to_vec())))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Message(Cow::Borrowed(v.as_bytes())))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Message(Cow::Owned(v.as_bytes().to_vec())))
            }
        }
        d.deserialize_bytes(Bytes(std::marker::PhantomData))
    }
}

/// An array of events, into a vector with room for a batch from the start (subscription
/// messages hold a few dozen events; growing from one would reallocate five times).
fn events<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Event<'a>>>, D::Error> {
    struct Events<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> serde::de::Visitor<'de> for Events<'a> {
        type Value = Option<Vec<Event<'a>>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(32).min(4096));
            while let Some(e) = seq.next_element()? {
                v.push(e);
            }
            Ok(Some(v))
        }
    }
    d.deserialize_any(Events(std::marker::PhantomData))
}

#[derive(Deserialize)]
struct AwsLogs<'a> {
    #[serde(borrow)]
    data: Cow<'a, str>,
}

/// The format messages are read in.
struct Messages<'o> {
    given: Option<&'o Format>,
    default: Format,
    /// Whether `format` was handed to the sink.
    announced: bool,
    /// Messages that did not fit the default format, the first of them reported in full.
    misfits: u64,
}

impl<'o> Messages<'o> {
    fn new(given: Option<&'o Format>) -> Self {
        Messages {
            given,
            default: Format::default_v2(),
            announced: false,
            misfits: 0,
        }
    }
}

/// What reading one message gave.
enum Read_<'m> {
    Record(Flow<'m>),
    Bad(RecordError),
    /// Without `--log-format`, a message that is not AWS's default format.
    Misfit(String),
}

/// The reader of one object: its sink, its counts, and what it learnt so far.
struct Reader<'a, 'o, S> {
    archive: &'a Archive,
    sink: &'a mut S,
    messages: Messages<'o>,
    stats: Stats,
    kind: Option<Kind>,
    /// Whether a value of a CloudWatch shape was seen (JSON of any other kind is a problem).
    recognised: bool,
    /// The last log stream handed to the sink, so a run of events of one stream is one call.
    last_stream: Option<String>,
    /// A message's line, ended and padded for the line reader.
    scratch: Vec<u8>,
}

impl<'a, 'o, S: Sink> Reader<'a, 'o, S> {
    fn new(archive: &'a Archive, sink: &'a mut S, log_format: Option<&'o Format>) -> Self {
        Reader {
            archive,
            sink,
            messages: Messages::new(log_format),
            stats: Stats::default(),
            kind: None,
            recognised: false,
            last_stream: None,
            scratch: Vec::with_capacity(512),
        }
    }

    fn problem(&mut self, at: Option<(Unit, u64)>, message: String) {
        self.stats.problems += 1;
        let display = self.archive.display.clone();
        self.sink.problem(match at {
            Some((unit, n)) => Problem::at(display, unit, n, message),
            None => Problem::new(display, None, message),
        });
    }

    fn set_kind(&mut self, shape: CloudWatchShape) {
        self.recognised = true;
        if self.kind.is_none() {
            let kind = Kind::CloudWatch(shape);
            self.kind = Some(kind);
            self.sink.kind(self.archive, kind);
        }
    }

    fn stream(&mut self, name: Option<&str>) {
        if let Some(name) = name {
            if self.last_stream.as_deref() != Some(name) {
                self.sink.delivery(
                    self.archive,
                    &Delivery {
                        log_stream: Some(name),
                        ..Delivery::default()
                    },
                );
                self.last_stream = Some(name.to_string());
            }
        }
    }

    /// Reads one message, the record of event (or line) `at`.
    fn message(&mut self, unit: Unit, at: u64, message: &[u8]) {
        let line = message
            .strip_suffix(b"\n")
            .map_or(message, |m| m.strip_suffix(b"\r").unwrap_or(m));
        let format = self.messages.given.unwrap_or(&self.messages.default);
        // The line in a window of its own, ended and padded as in a file, so the fast reader
        // of lines in a buffer reads it (a message alone is read a good deal slower).
        let scratch = &mut self.scratch;
        scratch.clear();
        scratch.extend_from_slice(line);
        scratch.push(b'\n');
        scratch.extend_from_slice(&[0; 64]);
        let mut flow = Flow::EMPTY;
        let read = match flow.parse_line(format, scratch) {
            Some(n) if n == line.len() => Ok(flow),
            _ => Flow::parse(format, line),
        };
        let read = match (self.messages.given, read) {
            (Some(_), Ok(flow)) => Read_::Record(flow),
            (Some(_), Err(e)) => Read_::Bad(e),
            (None, Ok(flow)) if flow.version == Some(2) => Read_::Record(flow),
            (None, Ok(flow)) => Read_::Misfit(match flow.version {
                Some(v) => format!("its version is {v}, not 2"),
                None => "its version is `-`, not 2".to_string(),
            }),
            (None, Err(RecordError::FieldCount { found, .. })) => {
                Read_::Misfit(format!("it has {found} fields, not 14"))
            }
            (None, Err(e)) => Read_::Misfit(e.to_string()),
        };
        match read {
            Read_::Record(flow) => {
                if !self.messages.announced {
                    self.messages.announced = true;
                    let format = self.messages.given.unwrap_or(&self.messages.default);
                    self.sink.format(self.archive, format);
                }
                self.stats.records += 1;
                self.sink.record_line(self.archive, at, line, &flow);
            }
            Read_::Bad(e) => self.problem(Some((unit, at)), e.to_string()),
            Read_::Misfit(why) => {
                self.messages.misfits += 1;
                if self.messages.misfits == 1 {
                    let shown = show(&String::from_utf8_lossy(message));
                    self.problem(
                        Some((unit, at)),
                        format!(
                            "CloudWatch Logs messages carry no header line, and this one does not \
                             fit AWS's default format ({why}): `{shown}`; pass --log-format with \
                             the flow log's format (its LogFormat in `aws ec2 describe-flow-logs`), \
                             e.g. --log-format '${{version}} ${{srcaddr}} ...'"
                        ),
                    );
                } else {
                    // Counted once at the end, so one wrong guess is one problem, not millions.
                    self.stats.problems += 1;
                }
            }
        }
    }

    /// Reads the events of one JSON value.
    fn events(&mut self, events: &[Event<'_>]) {
        for event in events {
            self.stats.events += 1;
            let at = self.stats.events;
            self.stream(event.log_stream_name.as_deref());
            match &event.message {
                Some(m) => self.message(Unit::Event, at, &m.0),
                None => self.problem(Some((Unit::Event, at)), "the event has no message".into()),
            }
        }
    }

    /// Reads one top-level value (or one decoded from `awslogs.data`, `nested`).
    fn value(&mut self, offset: u64, bytes: &[u8], gzip: bool, nested: bool) {
        let place = |what: &str| {
            if nested {
                format!("in the awslogs.data at byte {offset}: {what}")
            } else {
                format!("JSON value at byte {offset}: {what}")
            }
        };
        if bytes.first() == Some(&b'[') {
            match serde_json::from_slice::<Vec<Event<'_>>>(bytes) {
                Ok(events) => {
                    self.set_kind(CloudWatchShape::Events);
                    self.events(&events);
                }
                Err(e) => self.problem(
                    None,
                    place(&format!("not an array of CloudWatch Logs events: {e}")),
                ),
            }
            return;
        }
        let shape = match serde_json::from_slice::<Shape<'_>>(bytes) {
            Ok(s) => s,
            Err(e) => {
                return self.problem(None, place(&format!("not a CloudWatch Logs delivery: {e}")))
            }
        };
        if let Some(kind) = shape.message_type.as_deref() {
            let subscription = if gzip && !nested {
                CloudWatchShape::Firehose
            } else {
                CloudWatchShape::Subscription
            };
            let control = match kind {
                "DATA_MESSAGE" => false,
                "CONTROL_MESSAGE" => true,
                other => {
                    return self.problem(
                        None,
                        place(&format!(
                            "messageType `{}` is neither DATA_MESSAGE nor CONTROL_MESSAGE",
                            show(other)
                        )),
                    )
                }
            };
            self.set_kind(subscription);
            self.sink.delivery(
                self.archive,
                &Delivery {
                    owner: shape.owner.as_deref(),
                    log_group: shape.log_group.as_deref(),
                    log_stream: shape.log_stream.as_deref(),
                    control,
                },
            );
            if control {
                self.stats.control += 1;
                return;
            }
            match &shape.log_events {
                Some(events) => {
                    self.last_stream = shape.log_stream.as_deref().map(str::to_string);
                    self.events(events);
                }
                None => self.problem(None, place("a DATA_MESSAGE without logEvents")),
            }
        } else if let Some(events) = &shape.events {
            self.set_kind(CloudWatchShape::Events);
            self.events(events);
        } else if let Some(message) = &shape.message {
            self.set_kind(CloudWatchShape::Events);
            let event = Event {
                message: Some(Message(Cow::Borrowed(&message.0))),
                log_stream_name: shape.log_stream_name.clone(),
            };
            self.events(std::slice::from_ref(&event));
        } else if let (Some(awslogs), false) = (&shape.awslogs, nested) {
            self.set_kind(CloudWatchShape::Subscription);
            match decode_awslogs(&awslogs.data) {
                Ok(text) => {
                    let mut values = Values::whole(&text);
                    loop {
                        match values.next_value() {
                            Ok(Some((at, v))) => self.value(at, v, false, true),
                            Ok(None) => break,
                            Err(e) => break self.problem(None, place(&e.to_string())),
                        }
                    }
                }
                Err(why) => self.problem(None, place(&format!("awslogs.data {why}"))),
            }
        } else {
            self.problem(
                None,
                place(
                    "none of messageType, logEvents, events, message or awslogs: not a \
                     CloudWatch Logs delivery of flow-log records",
                ),
            );
        }
    }

    fn finish(mut self) -> Stats {
        if self.messages.misfits > 1 {
            // The first misfit was reported in full; this says how many there were.
            self.stats.problems -= 1;
            self.problem(
                None,
                format!(
                    "{} messages in all do not fit AWS's default format; pass --log-format \
                     with the flow log's format",
                    self.messages.misfits
                ),
            );
        }
        if self.stats.records == 0 && self.stats.problems == 0 && self.stats.control == 0 {
            let what = if self.recognised {
                "holds no records: the CloudWatch Logs delivery has no log events"
            } else {
                "holds no records"
            };
            self.problem(None, what.to_string());
        }
        self.stats
    }
}

/// The JSON text of `awslogs.data`: base64 of gzip, as CloudWatch hands it to Lambda.
fn decode_awslogs(data: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| format!("is not base64: {e}"))?;
    if !compressed.starts_with(&[0x1f, 0x8b]) {
        return Err("is not gzip once base64-decoded".into());
    }
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(&compressed[..])
        .take(MAX_PAYLOAD + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("is not valid gzip: {e}"))?;
    if text.len() as u64 > MAX_PAYLOAD {
        return Err(format!("decodes to more than {} MiB", MAX_PAYLOAD >> 20));
    }
    Ok(text)
}

/// Reads the JSON values of a CloudWatch Logs object (`gzip`: the object was gzip, which
/// makes subscription messages a Firehose object). `log_format` is `--log-format`.
pub fn scan_json(
    mut values: Values<'_>,
    gzip: bool,
    archive: &Archive,
    log_format: Option<&Format>,
    sink: &mut impl Sink,
) -> Stats {
    let mut reader = Reader::new(archive, sink, log_format);
    loop {
        if reader.sink.cancelled() {
            return reader.stats;
        }
        match values.next_value() {
            Ok(Some((offset, value))) => reader.value(offset, value, gzip, false),
            Ok(None) => break,
            Err(e) => {
                let what = match &e {
                    ValuesError::Io(_) if gzip => "gzip data is corrupt or truncated",
                    ValuesError::Io(_) => "read failed",
                    _ => "not JSON of a CloudWatch Logs delivery",
                };
                let events = reader.stats.events;
                reader.problem(
                    None,
                    format!("{what} ({events} events read before the break): {e}"),
                );
                break;
            }
        }
    }
    reader.finish()
}

/// Whether `line` begins as an export task's lines do: an ISO-8601 UTC timestamp
/// (`2026-11-02T00:35:05.000Z`) and a space. Returns the message after it.
pub fn export_message(line: &[u8]) -> Option<&[u8]> {
    let space = memchr::memchr(b' ', line)?;
    let stamp = &line[..space];
    let digits = |r: std::ops::Range<usize>| {
        stamp
            .get(r)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let shape = stamp.len() >= 20
        && digits(0..4)
        && stamp[4] == b'-'
        && digits(5..7)
        && stamp[7] == b'-'
        && digits(8..10)
        && stamp[10] == b'T'
        && digits(11..13)
        && stamp[13] == b':'
        && digits(14..16)
        && stamp[16] == b':'
        && digits(17..19)
        && stamp.ends_with(b"Z")
        && (stamp.len() == 20
            || (stamp.len() > 21 && stamp[19] == b'.' && digits(20..stamp.len() - 1)));
    shape.then(|| &line[space + 1..])
}

/// Reads an export task's lines: each an ISO-8601 timestamp, a space and a message.
pub fn scan_export(
    lines: &mut Lines,
    archive: &Archive,
    log_format: Option<&Format>,
    sink: &mut impl Sink,
) -> Stats {
    let mut reader = Reader::new(archive, sink, log_format);
    reader.set_kind(CloudWatchShape::Export);
    // The export writes `<task>/<log stream>/000000.gz`: the stream is the folder.
    let stream = std::path::Path::new(&archive.display)
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.starts_with("eni-"));
    reader.stream(stream.as_deref());
    loop {
        if reader.stats.events.is_multiple_of(4096) && reader.sink.cancelled() {
            return reader.stats;
        }
        let (number, bytes) = match lines.next_line() {
            Ok(Some(Line::Text { number, bytes })) => (number, bytes),
            Ok(Some(Line::TooLong { number, length })) => {
                reader.stats.events += 1;
                reader.problem(
                    Some((Unit::Line, number)),
                    format!("line is {length} bytes long, too long for a flow-log record"),
                );
                continue;
            }
            Ok(None) => break,
            Err(e) => {
                let at = lines.line_number();
                reader.problem(
                    None,
                    format!("gzip data is corrupt or truncated after line {at}: {e}"),
                );
                break;
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        reader.stats.events += 1;
        match export_message(bytes).map(|_| Ok::<(), ()>(())) {
            Some(Ok(_)) | Some(Err(_)) => {
                let message = export_message(bytes).expect("matched above");
                reader.message(Unit::Line, number, message)
            }
            None => reader.problem(
                Some((Unit::Line, number)),
                format!(
                    "`{}` is not an export-task line (an ISO-8601 timestamp, a space, the record)",
                    show(&String::from_utf8_lossy(bytes))
                ),
            ),
        }
    }
    reader.finish()
}

/// A message in a problem: printable, and at most 200 characters.
fn show(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(200)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests;
