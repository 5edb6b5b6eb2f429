"""Runs flowgate's DDL and query on a local SQL engine and exports the rows.

Used by tests/sql.rs (the parity tests): `python3 engine.py ENGINE JOBS.json`, where ENGINE
is `duckdb` or `spark` and JOBS.json is a list of {"ddl": FILE, "query": FILE, "out": FILE,
"cwd": DIR, "json": BOOL}. Each job's DDL statements (separated by `;`) run first, then its
query; the engine's own writer exports the rows to `out`: CSV with a header, or JSON lines.
Spark starts once for every job (it takes ~15 s to start), in local mode on 127.0.0.1,
offline, with Spark 4's default ANSI mode.
"""

import glob
import json
import os
import shutil
import sys
import tempfile
import time


def statements(text):
    # The DDL holds no `;` inside a literal or a comment.
    body = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def run_duckdb(jobs):
    import duckdb

    for job in jobs:
        os.chdir(job["cwd"])
        con = duckdb.connect()
        for s in statements(open(job["ddl"]).read()):
            con.execute(s)
        query = open(job["query"]).read().strip().rstrip(";")
        out = job["out"].replace("'", "''")
        fmt = "FORMAT json" if job.get("json") else "FORMAT csv, HEADER"
        con.execute(f"COPY ({query}) TO '{out}' ({fmt})")
        con.close()


def run_spark(jobs):
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    began = time.time()
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("flowgate-parity")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    print(f"spark {spark.version} started in {time.time() - began:.1f} s", file=sys.stderr)
    for job in jobs:
        began = time.time()
        os.chdir(job["cwd"])
        for s in statements(open(job["ddl"]).read()):
            spark.sql(s)
        df = spark.sql(open(job["query"]).read())
        tmp = tempfile.mkdtemp()
        writer = df.coalesce(1).write.mode("overwrite")
        if job.get("json"):
            writer.json(tmp)
        else:
            writer.option("header", True).csv(tmp)
        (part,) = glob.glob(os.path.join(tmp, "part-*"))
        shutil.move(part, job["out"])
        shutil.rmtree(tmp)
        print(f"{job['query']}: {time.time() - began:.1f} s", file=sys.stderr)
    spark.stop()


def main():
    engine, jobs = sys.argv[1], json.load(open(sys.argv[2]))
    {"duckdb": run_duckdb, "spark": run_spark}[engine](jobs)


if __name__ == "__main__":
    main()
