//! A sample of a Parquet object is Parquet: the kept rows, every column, the same schema.
//!
//! Each row group with a kept row becomes a row group of the sample, each column copied
//! value by value (a batch of rows at a time, nulls kept as nulls) with the codec its column
//! chunk had and the file's key-value metadata (AWS's `parquet.avro.schema`, pyarrow's
//! `ARROW:schema`), so the sample is read as the original was and checks the same. With
//! `--pseudonymise`, the id columns' values are replaced as in a text sample.

use std::fs::File;
use std::io;
use std::sync::Arc;

use parquet::basic::Type as Physical;
use parquet::column::reader::{get_typed_column_reader, ColumnReaderImpl};
use parquet::column::writer::ColumnWriterImpl;
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DataType, DoubleType, FixedLenByteArrayType, FloatType,
    Int32Type, Int64Type, Int96Type,
};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::FileReader;
use parquet::file::writer::SerializedFileWriter;

use crate::flowlog::parquet::ParquetLog;
use crate::sample::pseudonym::{ColumnRule, Pseudonymiser};

/// Rows copied per column at a time.
const BATCH: usize = 4096;

/// Writes the rows of `log` numbered in `kept` (1-based, ascending) to `destination`.
pub fn copy(
    log: &ParquetLog,
    kept: &[u64],
    destination: &std::path::Path,
    mut pseudonymiser: Option<&mut Pseudonymiser>,
) -> io::Result<()> {
    let err = |e: parquet::errors::ParquetError| io::Error::other(e.to_string());
    let reader = log.file();
    let metadata = reader.metadata();
    let schema = metadata.file_metadata().schema_descr();
    let rules = Pseudonymiser::rules(log.format());
    let mut props = WriterProperties::builder()
        .set_key_value_metadata(metadata.file_metadata().key_value_metadata().cloned());
    if let Some(group) = metadata.row_groups().first() {
        for column in group.columns() {
            props =
                props.set_column_compression(column.column_path().clone(), column.compression());
        }
    }
    if let Some(dir) = destination.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = File::create(destination)?;
    let mut writer =
        SerializedFileWriter::new(file, schema.root_schema_ptr(), Arc::new(props.build()))
            .map_err(err)?;
    let mut start = 0u64;
    let mut next = 0usize;
    for g in 0..metadata.num_row_groups() {
        let rows = u64::try_from(metadata.row_group(g).num_rows()).unwrap_or(0);
        // Which of this group's rows are kept, by their index in the group.
        let mut keep = vec![false; rows as usize];
        while next < kept.len() && kept[next] <= start + rows {
            if kept[next] > start {
                keep[(kept[next] - start - 1) as usize] = true;
            }
            next += 1;
        }
        start += rows;
        if !keep.contains(&true) {
            continue;
        }
        let group = reader.get_row_group(g).map_err(err)?;
        let mut out = writer.next_row_group().map_err(err)?;
        let mut leaf = 0;
        while let Some(mut column) = out.next_column().map_err(err)? {
            let rule = rules.get(leaf).copied().unwrap_or(ColumnRule::Keep);
            let mut ids = match rule {
                ColumnRule::Keep => None,
                other => pseudonymiser.as_deref_mut().map(|p| (other, p)),
            };
            let input = group.get_column_reader(leaf).map_err(err)?;
            match schema.column(leaf).physical_type() {
                Physical::BOOLEAN => copy_column::<BoolType>(input, column.typed(), &keep, |_| {}),
                Physical::INT32 => copy_column::<Int32Type>(input, column.typed(), &keep, |v| {
                    if let Some((_, p)) = ids.as_mut() {
                        *v = renamed_number(p, i64::from(*v))
                            .and_then(|n| i32::try_from(n).ok())
                            .unwrap_or(*v);
                    }
                }),
                Physical::INT64 => copy_column::<Int64Type>(input, column.typed(), &keep, |v| {
                    if let Some((_, p)) = ids.as_mut() {
                        *v = renamed_number(p, *v).unwrap_or(*v);
                    }
                }),
                Physical::INT96 => copy_column::<Int96Type>(input, column.typed(), &keep, |_| {}),
                Physical::FLOAT => copy_column::<FloatType>(input, column.typed(), &keep, |_| {}),
                Physical::DOUBLE => copy_column::<DoubleType>(input, column.typed(), &keep, |_| {}),
                Physical::BYTE_ARRAY => {
                    copy_column::<ByteArrayType>(input, column.typed(), &keep, |v| {
                        if let (Some((rule, p)), Ok(text)) = (ids.as_mut(), v.as_utf8()) {
                            let renamed = match *rule {
                                ColumnRule::Arn => p.arn(text),
                                _ => p.id(text),
                            };
                            *v = ByteArray::from(renamed.into_bytes());
                        }
                    })
                }
                Physical::FIXED_LEN_BYTE_ARRAY => {
                    copy_column::<FixedLenByteArrayType>(input, column.typed(), &keep, |_| {})
                }
            }
            .map_err(err)?;
            column.close().map_err(err)?;
            leaf += 1;
        }
        out.close().map_err(err)?;
    }
    writer.close().map_err(err)?;
    Ok(())
}

/// A numeric id (an account written as int64) under its pseudonym, which has the same digits'
/// shape.
fn renamed_number(p: &mut Pseudonymiser, n: i64) -> Option<i64> {
    p.id(&n.to_string()).parse().ok()
}

/// Copies the kept rows of one column chunk, nulls as nulls, `edit` applied to each value.
fn copy_column<T: DataType>(
    input: parquet::column::reader::ColumnReader,
    output: &mut ColumnWriterImpl<'_, T>,
    keep: &[bool],
    mut edit: impl FnMut(&mut T::T),
) -> parquet::errors::Result<()> {
    let mut reader: ColumnReaderImpl<T> = get_typed_column_reader(input);
    let (mut levels, mut values) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
    let (mut kept_levels, mut kept_values) = (Vec::new(), Vec::new());
    let mut row = 0;
    while row < keep.len() {
        levels.clear();
        values.clear();
        let want = BATCH.min(keep.len() - row);
        let (n, _, _) = reader.read_records(want, Some(&mut levels), None, &mut values)?;
        if n == 0 {
            return Err(parquet::errors::ParquetError::General(format!(
                "the column ends after {row} of its {} rows",
                keep.len()
            )));
        }
        kept_levels.clear();
        kept_values.clear();
        let mut value = 0;
        for (i, &k) in keep[row..row + n].iter().enumerate() {
            // A required column has no levels: every row has a value.
            let present = levels.get(i).is_none_or(|&l| l > 0);
            if k {
                if let Some(&l) = levels.get(i) {
                    kept_levels.push(l);
                }
                if present {
                    let mut v = values[value].clone();
                    edit(&mut v);
                    kept_values.push(v);
                }
            }
            if present {
                value += 1;
            }
        }
        let levels = (!levels.is_empty()).then_some(&kept_levels[..]);
        output.write_batch(&kept_values, levels, None)?;
        row += n;
    }
    Ok(())
}
