"""Writes the small Parquet files the reader's unit tests read (committed beside this script).

Each file holds the same five records of AWS's default format (two accepted, one rejected over
IPv6, a NODATA and a SKIPDATA) the way one writer or another stores them, plus files that are
not flow logs. Run it again after changing it: `python3 tests/data/parquet/make.py` (needs
pyarrow, pandas and fastparquet from PyPI); the output does not depend on the time of day.
"""

import os

import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))

# version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
RECORDS = [
    "2 123456789010 eni-0a1b2c3d4e5f60718 10.0.1.5 10.20.30.5 49152 443 6 10 8400 1762052400 1762052460 ACCEPT OK",
    "2 123456789010 eni-0a1b2c3d4e5f60718 10.20.30.5 10.0.1.5 443 49152 6 8 5100 1762052400 1762052460 ACCEPT OK",
    "2 123456789010 eni-0a1b2c3d4e5f60718 2001:db8::5 2001:db8:1::9 50000 22 6 3 180 1762052401 1762052461 REJECT OK",
    "2 123456789010 eni-0fffffffffffffff0 - - - - - - - 1762052400 1762052460 - NODATA",
    "2 123456789010 eni-0eeeeeeeeeeeeeee0 - - - - - - - 1762052400 1762052460 - SKIPDATA",
]
FIELDS = "version account_id interface_id srcaddr dstaddr srcport dstport protocol packets bytes start end action log_status".split()
INT32 = {"version", "srcport", "dstport", "protocol", "tcp_flags", "traffic_path"}
INT64 = {"packets", "bytes", "start", "end"}


def cells(dash_strings):
    """Columns of RECORDS; `-` becomes null in number columns, and in string columns too
    unless `dash_strings`."""
    rows = [r.split(" ") for r in RECORDS]
    out = {}
    for i, name in enumerate(FIELDS):
        values = [row[i] for row in rows]
        if name in INT32 or name in INT64:
            out[name] = [None if v == "-" else int(v) for v in values]
        else:
            out[name] = [v if (v != "-" or dash_strings) else None for v in values]
    return out


def aws_schema(int64_everywhere=False):
    fields = []
    for name in FIELDS:
        if name in INT32:
            t = pa.int64() if int64_everywhere else pa.int32()
        elif name in INT64:
            t = pa.int64()
        else:
            t = pa.string()
        fields.append(pa.field(name, t, nullable=True))
    return pa.schema(fields)


def write(name, table, **kw):
    pq.write_table(table, os.path.join(HERE, name), **kw)


def main():
    # As AWS delivers it (observed: snappy pages, optional INT32/INT64/UTF8 columns, strings
    # that hold "-" where a field has no value, a parquet-avro writer).
    schema = aws_schema().with_metadata({"writer.model.name": "avro"})
    write("aws-snappy.parquet", pa.table(cells(True), schema=schema), compression="snappy")
    # Gzip, nulls for every absent value, two row groups (3 + 2 rows).
    write(
        "aws-gzip-nulls.parquet",
        pa.table(cells(False), schema=aws_schema()),
        compression="gzip",
        row_group_size=3,
    )
    # LZ4 (pyarrow writes LZ4_RAW), a codec flowgate does not decode: refused by name.
    write("lz4.parquet", pa.table(cells(True), schema=aws_schema()), compression="lz4")
    # Every integer int64 (fastparquet, Spark), zstd.
    write("int64-zstd.parquet", pa.table(cells(True), schema=aws_schema(True)), compression="zstd")
    # A custom format's subset of columns in another order, a column flowgate does not know,
    # no compression, one row per row group.
    c = cells(False)
    custom = pa.table(
        {
            "interface_id": c["interface_id"],
            "dstaddr": c["dstaddr"],
            "srcaddr": c["srcaddr"],
            "dstport": pa.array(c["dstport"], pa.int32()),
            "srcport": pa.array(c["srcport"], pa.int32()),
            "protocol": pa.array(c["protocol"], pa.int32()),
            "future_field": ["a", "b", "c", "d", "e"],
            "start": pa.array(c["start"], pa.int64()),
            "end": pa.array(c["end"], pa.int64()),
            "action": c["action"],
            "log_status": c["log_status"],
        }
    )
    write("custom-uncompressed.parquet", custom, compression="none", row_group_size=1)
    # Encodings beside PLAIN and dictionaries: DELTA_BINARY_PACKED numbers, DELTA_BYTE_ARRAY
    # and DELTA_LENGTH_BYTE_ARRAY strings, in version-2 data pages (read through the crate's
    # column reader), and the same without dictionaries in PLAIN version-2 pages.
    encodings = {name: "DELTA_BINARY_PACKED" for name in FIELDS if name in INT32 or name in INT64}
    encodings.update({"interface_id": "DELTA_BYTE_ARRAY", "srcaddr": "DELTA_LENGTH_BYTE_ARRAY"})
    write(
        "delta-v2.parquet",
        pa.table(cells(True), schema=aws_schema()),
        compression="zstd",
        use_dictionary=False,
        column_encoding=encodings,
        data_page_version="2.0",
    )
    write(
        "plain-v2.parquet",
        pa.table(cells(False), schema=aws_schema()),
        compression="snappy",
        use_dictionary=False,
        data_page_version="2.0",
    )
    # pandas with every column as strings, "-" for absent values, and "None" where Python had
    # no value: the port of the third record is not a port, and must be a problem naming row 3
    # and srcport.
    import pandas as pd

    frame = pd.DataFrame(
        {name: ["-" if v is None else str(v) for v in values] for name, values in cells(True).items()}
    )
    frame.loc[2, "srcport"] = "None"
    frame.to_parquet(os.path.join(HERE, "pandas-strings.parquet"), engine="pyarrow", index=False)
    # Integer columns with gaps as float64 (NaN where absent), start and end as timestamps.
    floats = {name: values for name, values in cells(False).items()}
    for name in ("srcport", "dstport", "protocol", "packets", "bytes"):
        floats[name] = pa.array([float("nan") if v is None else float(v) for v in floats[name]], pa.float64())
    for name in ("start", "end"):
        floats[name] = pa.array([v * 1000 for v in floats[name]], pa.timestamp("ms", tz="UTC"))
    write("floats-timestamps.parquet", pa.table(floats), compression="snappy")
    # Amazon Security Lake's OCSF layout: nested endpoints, not flow-log columns.
    endpoint = pa.struct([("ip", pa.string()), ("port", pa.int32()), ("interface_uid", pa.string())])
    ocsf = pa.table(
        {
            "class_uid": pa.array([4001], pa.int32()),
            "src_endpoint": pa.array([{"ip": "10.0.1.5", "port": 49152, "interface_uid": "eni-0a1b2c3d4e5f60718"}], endpoint),
            "dst_endpoint": pa.array([{"ip": "10.20.30.5", "port": 443, "interface_uid": None}], endpoint),
            "time": pa.array([1762052400000], pa.int64()),
        }
    )
    write("ocsf.parquet", ocsf, compression="snappy")
    # A table of something else entirely.
    write("prices.parquet", pa.table({"sku": ["a-1", "b-2"], "price": [1.5, 2.25], "version": [1, 1]}))


if __name__ == "__main__":
    main()
