"""Rewrites gzip flow-log text as the other deliveries, record for record (tests/parity.rs).

    python3 tests/data/parity.py FIXTURES OUT

For every `.log.gz` under FIXTURES (the S3 key layout), OUT gets the same records as:

  parquet/   Parquet as AWS writes it (pyarrow): Hive-compatible per-hour prefixes, AWS's
             types (INT_32, INT_64, STRING), snappy with "-" strings for absent values in
             every other object, gzip with nulls in the rest;
  firehose-<format>/  CloudWatch Logs objects a subscription delivered through Firehose:
             gzip members of one DATA_MESSAGE per log stream, a CONTROL_MESSAGE first;
  events-<format>/    `aws logs filter-log-events` output, one page per object;
  export-<format>/    an export task's gzip lines (timestamp, space, record), one folder per
             log stream, as `create-export-task` lays them out;
  subscription-<format>/  the payloads a Lambda subscription receives, raw
             ({"awslogs":{"data":"<base64 gzip>"}}), one a line;

where <format> is `default` for AWS's default format and `custom` for any other (CloudWatch
messages carry no header, so each format is checked in a run of its own, the custom one with
--log-format), and text-<format>/ holds the text objects of that format. Written with pyarrow
and the standard library only, never with flowgate: the independent writer the parity test
needs. Deterministic: the same input gives the same bytes.
"""

import base64
import datetime
import gzip
import io
import json
import os
import shutil
import sys

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
INT32 = {"version", "srcport", "dstport", "protocol", "tcp-flags", "traffic-path"}
INT64 = {"packets", "bytes", "start", "end"}


def gz(data, member=True):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as f:
        f.write(data)
    return out.getvalue()


def objects(root):
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if name.endswith(".log.gz"):
                yield os.path.join(dirpath, name)


def parquet(path, header, records, out, n):
    rel = os.path.relpath(path, FIXTURES).split(os.sep)
    # AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/<file>
    account, region, y, m, d, name = rel[1], rel[3], rel[4], rel[5], rel[6], rel[7]
    hour = name.split("_")[4][9:11]
    folder = os.path.join(
        out, "parquet", "AWSLogs", f"aws-account-id={account}", "aws-service=vpcflowlogs",
        f"aws-region={region}", f"year={y}", f"month={m}", f"day={d}", f"hour={hour}",
    )
    os.makedirs(folder, exist_ok=True)
    dashes = n % 2 == 0
    fields = header.split()
    rows = [r.split(" ") for r in records]
    columns, types = {}, []
    for i, f in enumerate(fields):
        values = [row[i] for row in rows]
        if f in INT32 or f in INT64:
            t = pa.int32() if f in INT32 else pa.int64()
            columns[f.replace("-", "_")] = pa.array([None if v == "-" else int(v) for v in values], t)
        else:
            columns[f.replace("-", "_")] = pa.array(
                [v if (v != "-" or dashes) else None for v in values], pa.string()
            )
    table = pa.table(columns).replace_schema_metadata({"writer.model.name": "avro"})
    pq.write_table(
        table,
        os.path.join(folder, name.replace(".log.gz", ".log.parquet")),
        compression="snappy" if dashes else "gzip",
    )


def start_ms(header, record):
    return int(record.split(" ")[header.split().index("start")]) * 1000


def cloudwatch(path, header, records, out, n, first):
    group = "default" if header == DEFAULT else "custom"
    rel = os.path.relpath(path, FIXTURES)
    stem = os.path.basename(path).replace(".log.gz", "")
    account = rel.split(os.sep)[1]
    # text-<format>: the same objects, for the run they are compared with.
    text = os.path.join(OUT, f"text-{group}", rel)
    os.makedirs(os.path.dirname(text), exist_ok=True)
    shutil.copyfile(path, text)
    eni = header.split().index("interface-id")
    streams = {}
    for r in records:
        streams.setdefault(r.split(" ")[eni] + "-all", []).append(r)
    # Firehose: YYYY/MM/DD/HH/<stream>-1-<time>-<id>, gzip members without separators.
    slot = stem.split("_")[4]
    y, mo, d, h = slot[0:4], slot[4:6], slot[6:8], slot[9:11]
    folder = os.path.join(out, f"firehose-{group}", y, mo, d, h)
    os.makedirs(folder, exist_ok=True)
    body = b""
    if first:
        body += gz(json.dumps({
            "messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
            "logStream": "", "subscriptionFilters": [],
            "logEvents": [{"id": "", "timestamp": 0,
                           "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}],
        }, separators=(",", ":")).encode())
    for k, (stream, rs) in enumerate(sorted(streams.items())):
        body += gz(json.dumps({
            "messageType": "DATA_MESSAGE", "owner": account, "logGroup": "vpc-flow-logs",
            "logStream": stream, "subscriptionFilters": ["to-firehose"],
            "logEvents": [{"id": f"{n:020d}{k:018d}{i:018d}", "timestamp": start_ms(header, r),
                           "message": r} for i, r in enumerate(rs)],
        }, separators=(",", ":")).encode())
    name = f"flow-logs-to-s3-1-{y}-{mo}-{d}-{h}-{slot[11:13]}-00-{stem.split('_')[5]}"
    with open(os.path.join(folder, name), "wb") as f:
        f.write(body)
    # Lambda subscription payloads, raw: base64 of the gzip of each DATA_MESSAGE.
    folder = os.path.join(out, f"subscription-{group}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, stem + ".ndjson"), "w") as f:
        for stream, rs in sorted(streams.items()):
            message = json.dumps({
                "messageType": "DATA_MESSAGE", "owner": account, "logGroup": "vpc-flow-logs",
                "logStream": stream, "subscriptionFilters": ["to-lambda"],
                "logEvents": [{"id": str(i), "timestamp": start_ms(header, r), "message": r}
                              for i, r in enumerate(rs)],
            }).encode()
            f.write(json.dumps({"awslogs": {"data": base64.b64encode(gz(message)).decode()}}) + "\n")
    # filter-log-events: one page an object, as the CLI prints it.
    folder = os.path.join(out, f"events-{group}")
    os.makedirs(folder, exist_ok=True)
    events = [{"logStreamName": s, "timestamp": start_ms(header, r), "message": r,
               "ingestionTime": start_ms(header, r) + 600000, "eventId": f"{n}{i}"}
              for s, rs in sorted(streams.items()) for i, r in enumerate(rs)]
    with open(os.path.join(folder, stem + ".json"), "w") as f:
        json.dump({"events": events, "searchedLogStreams": []}, f, indent=4)
    # create-export-task: <task>/<log stream>/<n>.gz, lines of an ISO-8601 time and the record.
    for stream, rs in sorted(streams.items()):
        folder = os.path.join(out, f"export-{group}", "task-0001", stream)
        os.makedirs(folder, exist_ok=True)
        lines = "".join(
            datetime.datetime.fromtimestamp(start_ms(header, r) / 1000, datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%S.000Z") + " " + r + "\n"
            for r in rs
        )
        with open(os.path.join(folder, f"{n:06d}.gz"), "wb") as f:
            f.write(gz(lines.encode()))


def main():
    global FIXTURES, OUT
    FIXTURES, OUT = sys.argv[1], sys.argv[2]
    first = {"default": True, "custom": True}
    for n, path in enumerate(objects(FIXTURES)):
        with gzip.open(path, "rt") as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
        header, records = lines[0], lines[1:]
        parquet(path, header, records, OUT, n)
        group = "default" if header == DEFAULT else "custom"
        cloudwatch(path, header, records, OUT, n, first[group])
        first[group] = False


if __name__ == "__main__":
    main()
