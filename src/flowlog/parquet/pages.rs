//! A column chunk read page by page into batches of rows, without the crate's value handles.
//!
//! The `parquet` crate's typed column readers hand out a byte array as a reference-counted
//! handle per value, and fill a buffer of them: for flow logs, whose string columns
//! (addresses, interfaces, actions) are dictionary-encoded, that costs more than the record
//! parse itself. The pages as the crate decompresses them are simple enough to read
//! directly: levels and dictionary indices in the RLE / bit-packed hybrid, values PLAIN.
//! [`Pages`] does that for the encodings AWS's writer and pyarrow use: a row's value is an
//! index into the dictionary (whose entries the reader interprets once per row group, not
//! once per row), a number, or bytes copied to the batch. A column chunk with any other
//! encoding (DELTA_*, BYTE_STREAM_SPLIT) is read by the crate's column reader instead
//! ([`supported`] says which), so no file is refused for its encoding.

use bytes::Bytes;
use parquet::basic::{Encoding, Type as Physical};
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::ColumnChunkMetaData;

/// Whether this module reads a column chunk: flat (at most one definition level), every
/// page's values PLAIN or dictionary indices, levels RLE.
pub fn supported(chunk: &ColumnChunkMetaData, max_def: i16) -> bool {
    max_def <= 1
        && chunk.encodings().all(|e| {
            matches!(
                e,
                Encoding::PLAIN
                    | Encoding::PLAIN_DICTIONARY
                    | Encoding::RLE_DICTIONARY
                    | Encoding::RLE
            )
        })
}

/// A row's value in a batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Null,
    /// An entry of the column chunk's dictionary.
    Entry(u32),
    Int(i64),
    Float(f64),
    /// Bytes in the batch's arena.
    Span(u32, u32),
}

/// One column of a batch of rows laid out row by row (`stride` values a row), so that the
/// reader goes through a row's values in one place.
pub struct Grid<'a> {
    pub values: &'a mut [Value],
    pub stride: usize,
    /// Where the next value goes.
    pub at: usize,
}

impl Grid<'_> {
    #[inline]
    pub fn push(&mut self, v: Value) {
        self.values[self.at] = v;
        self.at += self.stride;
    }
}

/// Why a page could not be read: damaged data, or an encoding this module does not read.
#[derive(Debug)]
pub struct Bad(pub String);

impl<E: std::fmt::Display> From<E> for Bad {
    fn from(e: E) -> Self {
        Bad(e.to_string())
    }
}

/// The values of a dictionary page (or of a PLAIN data page).
pub enum Dictionary {
    /// Byte arrays: `(start, end)` in `buf`.
    Bytes {
        buf: Bytes,
        spans: Vec<(u32, u32)>,
    },
    Int(Vec<i64>),
    Float(Vec<f64>),
}

impl Dictionary {
    pub fn len(&self) -> usize {
        match self {
            Dictionary::Bytes { spans, .. } => spans.len(),
            Dictionary::Int(v) => v.len(),
            Dictionary::Float(v) => v.len(),
        }
    }
}

/// The data page being read.
struct DataPage {
    /// Per row, whether it has a value (empty for a required column: every row has one).
    present: Vec<u32>,
    values: PageValues,
    rows: usize,
    next_row: usize,
    next_value: usize,
}

enum PageValues {
    Plain(Dictionary),
    Indices(Vec<u32>),
}

/// One column chunk, read a batch of rows at a time.
pub struct Pages {
    reader: Box<dyn PageReader>,
    physical: Physical,
    max_def: i16,
    /// Entries of the dictionary page, until [`Pages::take_dictionary`] takes them.
    dictionary: Option<Dictionary>,
    /// Entries in the dictionary (0 without one), to check indices against.
    dictionary_len: usize,
    page: Option<DataPage>,
}

impl Pages {
    /// Opens a column chunk; reads its dictionary page, if it starts with one.
    pub fn new(
        reader: Box<dyn PageReader>,
        physical: Physical,
        max_def: i16,
    ) -> Result<Pages, Bad> {
        let mut pages = Pages {
            reader,
            physical,
            max_def,
            dictionary: None,
            dictionary_len: 0,
            page: None,
        };
        match pages.reader.get_next_page()? {
            Some(Page::DictionaryPage {
                buf, num_values, ..
            }) => {
                let d = plain(physical, buf, num_values as usize)?;
                pages.dictionary_len = d.len();
                pages.dictionary = Some(d);
            }
            Some(page) => pages.start(page)?,
            None => {}
        }
        Ok(pages)
    }

    /// The column chunk's dictionary, for the reader to interpret once.
    pub fn take_dictionary(&mut self) -> Option<Dictionary> {
        self.dictionary.take()
    }

    /// Writes the values of the next `rows` rows to `out`, bytes of PLAIN byte arrays to
    /// `arena`.
    pub fn fill(
        &mut self,
        rows: usize,
        out: &mut Grid<'_>,
        arena: &mut Vec<u8>,
    ) -> Result<(), Bad> {
        let mut left = rows;
        while left > 0 {
            let Some(page) = self.page.as_mut().filter(|p| p.next_row < p.rows) else {
                self.load()?;
                continue;
            };
            let n = left.min(page.rows - page.next_row);
            let rows = page.next_row..page.next_row + n;
            // The common page first: every row has a value, an index into the dictionary.
            if let (PageValues::Indices(i), true) = (&page.values, page.present.is_empty()) {
                let v = page.next_value;
                for &e in &i[v..v + n] {
                    out.push(Value::Entry(e));
                }
                page.next_value += n;
            } else {
                let present = |r: usize| page.present.get(r).is_none_or(|&l| l > 0);
                let mut v = page.next_value;
                match &page.values {
                    PageValues::Indices(i) => {
                        for r in rows {
                            out.push(if present(r) {
                                v += 1;
                                Value::Entry(i[v - 1])
                            } else {
                                Value::Null
                            });
                        }
                    }
                    PageValues::Plain(Dictionary::Int(i)) => {
                        for r in rows {
                            out.push(if present(r) {
                                v += 1;
                                Value::Int(i[v - 1])
                            } else {
                                Value::Null
                            });
                        }
                    }
                    PageValues::Plain(Dictionary::Float(f)) => {
                        for r in rows {
                            out.push(if present(r) {
                                v += 1;
                                Value::Float(f[v - 1])
                            } else {
                                Value::Null
                            });
                        }
                    }
                    PageValues::Plain(Dictionary::Bytes { buf, spans }) => {
                        for r in rows {
                            out.push(if present(r) {
                                let (a, b) = spans[v];
                                v += 1;
                                let start = arena.len() as u32;
                                arena.extend_from_slice(&buf[a as usize..b as usize]);
                                Value::Span(start, arena.len() as u32)
                            } else {
                                Value::Null
                            });
                        }
                    }
                }
                page.next_value = v;
            }
            page.next_row += n;
            left -= n;
        }
        Ok(())
    }

    /// Reads the next data page.
    fn load(&mut self) -> Result<(), Bad> {
        match self.reader.get_next_page()? {
            Some(page) => self.start(page),
            None => Err(Bad("the column chunk ends before its rows do".into())),
        }
    }

    fn start(&mut self, page: Page) -> Result<(), Bad> {
        let short = || Bad("a page shorter than its levels".into());
        let (present, values, rows, encoding) = match page {
            Page::DictionaryPage { .. } => return Err(Bad("a second dictionary page".into())),
            Page::DataPage {
                buf,
                num_values,
                encoding,
                def_level_encoding,
                ..
            } => {
                let rows = num_values as usize;
                if self.max_def == 0 {
                    (Vec::new(), buf, rows, encoding)
                } else {
                    if def_level_encoding != Encoding::RLE {
                        return Err(Bad(format!("definition levels in {def_level_encoding}")));
                    }
                    let len = u32::from_le_bytes(
                        buf.get(..4).ok_or_else(short)?.try_into().expect("4 bytes"),
                    ) as usize;
                    let levels = buf.get(4..4 + len).ok_or_else(short)?;
                    (
                        levels_of(levels, rows)?,
                        buf.slice(4 + len..),
                        rows,
                        encoding,
                    )
                }
            }
            Page::DataPageV2 {
                buf,
                num_values,
                encoding,
                def_levels_byte_len,
                rep_levels_byte_len,
                ..
            } => {
                let rows = num_values as usize;
                if rep_levels_byte_len != 0 {
                    return Err(Bad("repetition levels in a flat column".into()));
                }
                let d = def_levels_byte_len as usize;
                let levels = buf.get(..d).ok_or_else(short)?;
                let present = if self.max_def > 0 {
                    levels_of(levels, rows)?
                } else {
                    Vec::new()
                };
                (present, buf.slice(d..), rows, encoding)
            }
        };
        let count = if present.is_empty() {
            rows
        } else {
            present.iter().filter(|&&l| l > 0).count()
        };
        // A page whose every row has a value reads as a required column's.
        let present = if count == rows { Vec::new() } else { present };
        let values = match encoding {
            Encoding::PLAIN => PageValues::Plain(plain(self.physical, values, count)?),
            Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY => {
                let width = *values
                    .first()
                    .ok_or_else(|| Bad("dictionary indices without their bit width".into()))?;
                let mut indices = Vec::with_capacity(count);
                hybrid(&values[1..], width, count, &mut indices)?;
                if indices.iter().any(|&i| i as usize >= self.dictionary_len) {
                    return Err(Bad("a dictionary index past the dictionary".into()));
                }
                PageValues::Indices(indices)
            }
            other => return Err(Bad(format!("values in {other}"))),
        };
        self.page = Some(DataPage {
            present,
            values,
            rows,
            next_row: 0,
            next_value: 0,
        });
        Ok(())
    }
}

/// Definition levels (bit width 1) of `rows` rows.
fn levels_of(data: &[u8], rows: usize) -> Result<Vec<u32>, Bad> {
    let mut levels = Vec::with_capacity(rows);
    hybrid(data, 1, rows, &mut levels)?;
    Ok(levels)
}

/// `count` PLAIN values of `physical`.
fn plain(physical: Physical, buf: Bytes, count: usize) -> Result<Dictionary, Bad> {
    let short = || Bad("a page shorter than its values".into());
    Ok(match physical {
        Physical::BYTE_ARRAY => {
            let mut spans = Vec::with_capacity(count);
            let mut at = 0usize;
            for _ in 0..count {
                let len = buf.get(at..at + 4).ok_or_else(short)?;
                let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
                let end = at + 4 + len;
                if end > buf.len() {
                    return Err(short());
                }
                spans.push(((at + 4) as u32, end as u32));
                at = end;
            }
            Dictionary::Bytes { buf, spans }
        }
        Physical::INT32 => Dictionary::Int(
            fixed::<4>(&buf, count)?
                .map(|b| i32::from_le_bytes(b).into())
                .collect(),
        ),
        Physical::INT64 => {
            Dictionary::Int(fixed::<8>(&buf, count)?.map(i64::from_le_bytes).collect())
        }
        Physical::FLOAT => Dictionary::Float(
            fixed::<4>(&buf, count)?
                .map(|b| f32::from_le_bytes(b).into())
                .collect(),
        ),
        Physical::DOUBLE => {
            Dictionary::Float(fixed::<8>(&buf, count)?.map(f64::from_le_bytes).collect())
        }
        other => return Err(Bad(format!("{other} values"))),
    })
}

fn fixed<const N: usize>(
    buf: &[u8],
    count: usize,
) -> Result<impl Iterator<Item = [u8; N]> + '_, Bad> {
    let bytes = count
        .checked_mul(N)
        .and_then(|n| buf.get(..n))
        .ok_or_else(|| Bad("a page shorter than its values".into()))?;
    Ok(bytes
        .chunks_exact(N)
        .map(|c| c.try_into().expect("N bytes")))
}

/// The RLE / bit-packed hybrid: `count` more values of `width` bits into `out`.
fn hybrid(data: &[u8], width: u8, count: usize, out: &mut Vec<u32>) -> Result<(), Bad> {
    let short = || Bad("levels or indices end early".into());
    if width > 32 {
        return Err(Bad(format!("a bit width of {width}")));
    }
    let width = usize::from(width);
    let mask = if width == 0 {
        0
    } else {
        u64::MAX >> (64 - width)
    };
    let mut at = 0;
    let target = out.len() + count;
    while out.len() < target {
        // ULEB128 run header.
        let mut header = 0u64;
        let mut shift = 0;
        loop {
            let b = *data.get(at).ok_or_else(short)?;
            at += 1;
            header |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(Bad("a run header too long".into()));
            }
        }
        let runs = (header >> 1) as usize;
        if runs == 0 {
            return Err(Bad("an empty run".into()));
        }
        if header & 1 == 0 {
            // A value repeated `runs` times.
            let size = width.div_ceil(8);
            let bytes = data.get(at..at + size).ok_or_else(short)?;
            at += size;
            let v = bytes
                .iter()
                .enumerate()
                .fold(0u64, |v, (i, b)| v | u64::from(*b) << (8 * i));
            let n = runs.min(target - out.len());
            out.extend(std::iter::repeat_n(v as u32, n));
        } else {
            // `runs` groups of 8 values, `width` bits each, least significant bit first.
            let size = runs.checked_mul(width).ok_or_else(short)?;
            let end = at.checked_add(size).ok_or_else(short)?;
            let bytes = data.get(at..end).ok_or_else(short)?;
            at = end;
            let mut n = (runs * 8).min(target - out.len());
            if width == 0 {
                out.extend(std::iter::repeat_n(0, n));
                continue;
            }
            // A group of 8 values is `width` bytes; each value is read with one 8-byte load
            // from a padded copy of its group.
            let mut group = [0u8; 40];
            for chunk in bytes.chunks(width) {
                group[..chunk.len()].copy_from_slice(chunk);
                for k in 0..n.min(8) {
                    let bit = k * width;
                    let word = u64::from_le_bytes(
                        group[bit / 8..bit / 8 + 8].try_into().expect("8 bytes"),
                    );
                    out.push(((word >> (bit % 8)) & mask) as u32);
                }
                n = n.saturating_sub(8);
                if n == 0 {
                    break;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hybrid_reads_runs_and_packed_groups() {
        // A run of 5 threes (width 2), then one group of 8 packed 2-bit values 0..=3,0..=3.
        let data = [0x0a, 0x03, 0x03, 0b1110_0100, 0b1110_0100];
        let mut out = Vec::new();
        hybrid(&data, 2, 13, &mut out).unwrap();
        assert_eq!(out, [3, 3, 3, 3, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
        // Fewer values wanted than the group holds: the rest are padding.
        let mut out = Vec::new();
        hybrid(&data, 2, 7, &mut out).unwrap();
        assert_eq!(out.len(), 7);
        // Width 0: a dictionary of one entry.
        let mut out = Vec::new();
        hybrid(&[0x03], 0, 8, &mut out).unwrap();
        assert_eq!(out, [0; 8]);
        for broken in [&data[..1], &data[..3], &[0x00][..], &[0x80; 12][..]] {
            assert!(
                hybrid(broken, 2, 13, &mut Vec::new()).is_err(),
                "{broken:?}"
            );
        }
        assert!(hybrid(&data, 33, 1, &mut Vec::new()).is_err());
    }
}
