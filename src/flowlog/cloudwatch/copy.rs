//! A CloudWatch Logs delivery with only some of its events: what `flowgate sample` writes,
//! so that a sample of a Firehose object is a Firehose object.
//!
//! The copy walks the object exactly as the reader does (the same typed parse decides which
//! values hold events, and in which order they are numbered), and writes each value that
//! keeps an event in the shape it had: a subscription message with fewer `logEvents`, a page
//! with fewer `events`, a raw payload re-encoded into `awslogs.data`. CONTROL_MESSAGEs and
//! values the reader could not use are left out. A gzip object is written as gzip members, one
//! per value, as Firehose writes them; a plain one as one value a line. Export-task lines are
//! copied as they were.

use std::borrow::Cow;
use std::io::{self, Write};

use serde_json::Value;

use super::{decode_awslogs, export_message, Event, Shape, Values};
use crate::flowlog::archive::Lines;
use crate::flowlog::lines::Line;

/// What to keep and how to rename.
pub struct Rewrite<'a> {
    /// Whether event (or export line) `n`, numbered as the reader numbers it, is kept.
    pub keep: &'a dyn Fn(u64) -> bool,
    /// Pseudonyms for what the kept events name, when asked for.
    pub renamer: Option<&'a mut dyn Renamer>,
}

/// Renames what a delivery names: the ids in its messages, its owner account, the interface
/// in a log stream's name (`eni-…-all`).
pub trait Renamer {
    fn message(&mut self, message: &str) -> String;
    fn id(&mut self, id: &str) -> String;
}

/// Writes the values of a JSON delivery with only the kept events; returns how many values
/// were written.
pub fn copy_json(
    mut values: Values<'_>,
    gzip: bool,
    rewrite: &mut Rewrite<'_>,
    out: &mut dyn Write,
) -> io::Result<u64> {
    let mut walk = Walk { n: 0, rewrite };
    let mut written = 0;
    while let Ok(Some((_, bytes))) = values.next_value() {
        if let Some(value) = walk.value(bytes, false) {
            let text = serde_json::to_vec(&value).map_err(io::Error::other)?;
            if gzip {
                // One member per value, as Firehose delivers them.
                let mut member =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                member.write_all(&text)?;
                out.write_all(&member.finish()?)?;
            } else {
                out.write_all(&text)?;
                out.write_all(b"\n")?;
            }
            written += 1;
        }
    }
    Ok(written)
}

/// Writes the kept lines of an export task's text, as they were but for renamed ids.
pub fn copy_export(
    lines: &mut Lines,
    rewrite: &mut Rewrite<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    while let Ok(Some(line)) = lines.next_line() {
        let Line::Text { number, bytes } = line else {
            continue;
        };
        if !(rewrite.keep)(number) {
            continue;
        }
        let renamed = export_message(bytes)
            .and_then(|m| std::str::from_utf8(m).ok())
            .and_then(|m| Some((m.len(), rewrite.renamer.as_mut()?.message(m))));
        match renamed {
            Some((len, message)) => {
                out.write_all(&bytes[..bytes.len() - len])?;
                out.write_all(message.as_bytes())?;
            }
            None => out.write_all(bytes)?,
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

struct Walk<'r, 'a> {
    /// Events numbered so far.
    n: u64,
    rewrite: &'r mut Rewrite<'a>,
}

impl Walk<'_, '_> {
    /// The value with only its kept events, or `None` when it keeps none (or the reader had
    /// no events from it).
    fn value(&mut self, bytes: &[u8], nested: bool) -> Option<Value> {
        if bytes.first() == Some(&b'[') {
            let events: Vec<Event<'_>> = serde_json::from_slice(bytes).ok()?;
            let Value::Array(all) = serde_json::from_slice(bytes).ok()? else {
                return None;
            };
            debug_assert_eq!(events.len(), all.len());
            let kept = self.events(all);
            return (!kept.is_empty()).then_some(Value::Array(kept));
        }
        let shape: Shape<'_> = serde_json::from_slice(bytes).ok()?;
        let Value::Object(mut object) = serde_json::from_slice(bytes).ok()? else {
            return None;
        };
        if let Some(kind) = shape.message_type.as_deref() {
            if kind != "DATA_MESSAGE" || shape.log_events.is_none() {
                return None;
            }
            let Some(Value::Array(events)) = object.remove("logEvents") else {
                return None;
            };
            let kept = self.events(events);
            if kept.is_empty() {
                return None;
            }
            object.insert("logEvents".into(), Value::Array(kept));
            self.rename(&mut object, "owner", false);
            self.rename(&mut object, "logStream", true);
            return Some(Value::Object(object));
        }
        if shape.events.is_some() {
            let Some(Value::Array(events)) = object.remove("events") else {
                return None;
            };
            let kept = self.events(events);
            if kept.is_empty() {
                return None;
            }
            object.insert("events".into(), Value::Array(kept));
            return Some(Value::Object(object));
        }
        if shape.message.is_some() {
            let kept = self.events(vec![Value::Object(object)]);
            return kept.into_iter().next();
        }
        if let (Some(awslogs), false) = (&shape.awslogs, nested) {
            let text = decode_awslogs(&awslogs.data).ok()?;
            let mut inner = Vec::new();
            let mut values = Values::whole(&text);
            while let Ok(Some((_, v))) = values.next_value() {
                if let Some(kept) = self.value(v, true) {
                    inner.extend(serde_json::to_vec(&kept).ok()?);
                }
            }
            if inner.is_empty() {
                return None;
            }
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&inner).ok()?;
            use base64::Engine;
            let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().ok()?);
            let mut wrapper = serde_json::Map::new();
            wrapper.insert("data".into(), Value::String(data));
            object.insert("awslogs".into(), Value::Object(wrapper));
            return Some(Value::Object(object));
        }
        None
    }

    /// The kept events of an array, each numbered as the reader numbers it.
    fn events(&mut self, events: Vec<Value>) -> Vec<Value> {
        let mut kept = Vec::new();
        for mut event in events {
            self.n += 1;
            if !(self.rewrite.keep)(self.n) {
                continue;
            }
            if let Value::Object(e) = &mut event {
                if let (Some(Value::String(m)), Some(r)) =
                    (e.get_mut("message"), self.rewrite.renamer.as_mut())
                {
                    *m = r.message(m);
                }
                self.rename(e, "logStreamName", true);
            }
            kept.push(event);
        }
        kept
    }

    /// Renames the id in `object[key]`: an account, or the interface in `eni-…-all`.
    fn rename(&mut self, object: &mut serde_json::Map<String, Value>, key: &str, stream: bool) {
        let Some(Value::String(v)) = object.get_mut(key) else {
            return;
        };
        let (id, rest): (Cow<'_, str>, &str) = match (stream, v.rfind('-')) {
            (true, Some(at)) if v.starts_with("eni-") => {
                (Cow::Owned(v[..at].to_string()), &v[at..])
            }
            (true, _) => return,
            (false, _) => (Cow::Owned(v.clone()), ""),
        };
        if let Some(r) = self.rewrite.renamer.as_mut() {
            *v = format!("{}{rest}", r.id(&id));
        }
    }
}
