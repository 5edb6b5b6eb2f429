//! A column chunk read through the `parquet` crate's typed column reader, a batch of rows at a
//! time: the path for column chunks whose encodings `pages` does not read (DELTA_*,
//! BYTE_STREAM_SPLIT). Slower (each byte array is a reference-counted handle, copied to the
//! batch), never wrong.

use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, DataType};

use super::pages::{Bad, Grid, Value};

enum Values {
    Text(Vec<ByteArray>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Float(Vec<f32>),
    Double(Vec<f64>),
}

/// One column chunk, read through the crate's column reader.
pub struct Batch {
    reader: ColumnReader,
    values: Values,
    levels: Vec<i16>,
}

impl Batch {
    /// `None` for a physical type no flow-log field is read from (refused when the object
    /// was opened).
    pub fn new(reader: ColumnReader) -> Option<Batch> {
        let values = match &reader {
            ColumnReader::ByteArrayColumnReader(_) => Values::Text(Vec::new()),
            ColumnReader::Int32ColumnReader(_) => Values::Int32(Vec::new()),
            ColumnReader::Int64ColumnReader(_) => Values::Int64(Vec::new()),
            ColumnReader::FloatColumnReader(_) => Values::Float(Vec::new()),
            ColumnReader::DoubleColumnReader(_) => Values::Double(Vec::new()),
            _ => return None,
        };
        Some(Batch {
            reader,
            values,
            levels: Vec::new(),
        })
    }

    /// Appends the values of the next `rows` rows to `out`, byte arrays copied to `arena`.
    pub fn fill(
        &mut self,
        rows: usize,
        out: &mut Grid<'_>,
        arena: &mut Vec<u8>,
    ) -> Result<(), Bad> {
        fn typed<T: DataType>(
            r: &mut ColumnReaderImpl<T>,
            rows: usize,
            levels: &mut Vec<i16>,
            values: &mut Vec<T::T>,
        ) -> parquet::errors::Result<usize> {
            levels.clear();
            values.clear();
            let (records, _, _) = r.read_records(rows, Some(levels), None, values)?;
            Ok(records)
        }
        let levels = &mut self.levels;
        let read = match (&mut self.reader, &mut self.values) {
            (ColumnReader::ByteArrayColumnReader(r), Values::Text(v)) => typed(r, rows, levels, v),
            (ColumnReader::Int32ColumnReader(r), Values::Int32(v)) => typed(r, rows, levels, v),
            (ColumnReader::Int64ColumnReader(r), Values::Int64(v)) => typed(r, rows, levels, v),
            (ColumnReader::FloatColumnReader(r), Values::Float(v)) => typed(r, rows, levels, v),
            (ColumnReader::DoubleColumnReader(r), Values::Double(v)) => typed(r, rows, levels, v),
            _ => unreachable!("values match their reader"),
        }?;
        if read != rows {
            return Err(Bad("the column chunk ends before its rows do".into()));
        }
        let mut next = 0;
        for r in 0..rows {
            // A required column has no levels: every row has a value.
            if self.levels.get(r).is_some_and(|&l| l == 0) {
                out.push(Value::Null);
                continue;
            }
            out.push(match &self.values {
                Values::Text(v) => {
                    let start = arena.len() as u32;
                    arena.extend_from_slice(v[next].data());
                    Value::Span(start, arena.len() as u32)
                }
                Values::Int32(v) => Value::Int(v[next].into()),
                Values::Int64(v) => Value::Int(v[next]),
                Values::Float(v) => Value::Float(v[next].into()),
                Values::Double(v) => Value::Float(v[next]),
            });
            next += 1;
        }
        Ok(())
    }
}
