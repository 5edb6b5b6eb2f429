#!/usr/bin/env python3
# usage: benches/duckdb_count.py LOGS_DIR THREADS   (the DuckDB baseline of benches/bench.sh)
#
# Counts the zcat|awk filter with DuckDB: explicit column types and nullstr='-' (NODATA records
# carry '-'; type inference from a sample would fail on them), CIDR tests as integer ranges
# (the inet extension is not in the pip wheel).
import glob, gzip, ipaddress, sys
import duckdb

logs, threads = sys.argv[1], int(sys.argv[2])
line = ipaddress.ip_network("10.20.0.0/16")
settle = ipaddress.ip_network("10.20.30.0/24")
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute("""CREATE MACRO ip4(a) AS
    try_cast(split_part(a, '.', 1) AS BIGINT) * 16777216 + try_cast(split_part(a, '.', 2) AS BIGINT) * 65536
    + try_cast(split_part(a, '.', 3) AS BIGINT) * 256 + try_cast(split_part(a, '.', 4) AS BIGINT)""")
def outside_settlement(col):
    return (f"(ip4({col}) BETWEEN {int(line[0])} AND {int(line[-1])} "
            f"AND ip4({col}) NOT BETWEEN {int(settle[0])} AND {int(settle[-1])})")
types = {"version": "INTEGER", "srcport": "INTEGER", "dstport": "INTEGER", "protocol": "INTEGER",
         "packets": "BIGINT", "bytes": "BIGINT", "start": "BIGINT", "end": "BIGINT"}
# The columns of the archive's format (every file of a bench archive has the same header):
# AWS's default fourteen and any custom fields after them, those as text.
first = next(iter(sorted(glob.glob(f"{logs}/**/*.gz", recursive=True))))
with gzip.open(first, "rt") as f:
    header = f.readline().split()
columns = "{" + ", ".join(f"'{name}': '{types.get(name, 'VARCHAR')}'" for name in header) + "}"
query = f"""SELECT count(*) FROM read_csv('{logs}/**/*.gz', delim=' ', header=true, nullstr='-',
    auto_detect=false, columns={columns})
    WHERE action = 'ACCEPT' AND ({outside_settlement('srcaddr')} OR {outside_settlement('dstaddr')})"""
print(con.execute(query).fetchone()[0])
