"""Write and read one province x sector partition of the lake: local Parquet vs Delta on a local
S3-compatible server (moto in server mode on 127.0.0.1, started here as a subprocess).

Prints, per backend: first write, replace (a second write of the same partition), read of the
partition, read of the whole table, and a vacuum with a zero window (deletes the replaced version's
files; the local store has none), as wall seconds and this process's CPU seconds, plus the moto
server's CPU seconds (its own process). Rows default to 1,000,000 (a large province's student list);
the frame has the shape of ``raw_records`` (text columns of realistic width).
``python benchmarks/bench_lake_store.py [--rows N]``. moto keeps objects in memory, so its figures are
an upper bound on the client's own cost plus a Python server's, not those of a real object store.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import psutil

from rules.lake_store import open_lake
from rules.layout import DataLayout


def frame(rows: int) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    ids = pl.Series(rng.integers(10**11, 10**12, rows)).cast(pl.Utf8)
    given = pl.Series(rng.choice(["An", "Bình", "Cúc", "Dũng", "Hà", "Lan", "Minh", "Ngọc"], rows))
    return pl.DataFrame({
        "file_name": pl.Series(rng.choice([f"thcs_{i}__ds.xlsx" for i in range(300)], rows)),
        "file_sha256": pl.Series(rng.integers(0, 300, rows)).cast(pl.Utf8).str.pad_start(64, "0"),
        "sheet": pl.Series(["Sheet1"] * rows),
        "row_number": pl.Series(np.arange(rows)),
        "full_name": "Nguyễn Văn " + given,
        "date_of_birth": pl.Series(rng.integers(1, 28, rows)).cast(pl.Utf8) + "/02/2012",
        "national_id": ids,
        "phone": pl.Series(rng.integers(10**8, 10**9, rows)).cast(pl.Utf8),
        "score": pl.Series(rng.random(rows)),
    })


def _timed(label: str, fn, moto: psutil.Process | None) -> None:
    m0 = moto.cpu_times() if moto else None
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    server = f", server CPU {sum(moto.cpu_times()[:2]) - sum(m0[:2]):5.2f} s" if moto else ""
    print(f"  {label:<22} wall {wall:6.2f} s, CPU {cpu:6.2f} s{server}")


def run(layout: DataLayout, df: pl.DataFrame, moto: psutil.Process | None, env: dict[str, str] | None) -> None:
    store = open_lake(layout, env)
    _timed("write (new)", lambda: store.write("bench", df, "hcm", "students"), moto)
    _timed("replace partition", lambda: store.write("bench", df, "hcm", "students"), moto)
    _timed("read partition", lambda: store.read("bench", "hcm", "students"), moto)
    _timed("read whole table", lambda: store.read_all("bench"), moto)
    removed: list[str] = []
    _timed("vacuum (window 0 h)", lambda: removed.extend(store.vacuum("bench", 0)), moto)
    print(f"  {'':<22} {len(removed)} old files deleted")
    assert store.read("bench", "hcm", "students").height == df.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    df = frame(args.rows)
    print(f"{args.rows:,} rows, {df.estimated_size() / 2**20:.0f} MiB in memory; load {psutil.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        print("local Parquet:")
        run(DataLayout.at(Path(tmp) / "local"), df, None, None)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            import boto3

            endpoint = f"http://127.0.0.1:{port}"
            env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                   "AWS_REGION": "us-east-1"}
            for _ in range(100):
                try:
                    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                                 aws_secret_access_key="bench").create_bucket(Bucket="bench")
                    break
                except Exception:  # the server is still starting
                    time.sleep(0.2)
            print("Delta on moto (S3 API over loopback):")
            run(DataLayout.at(Path(tmp) / "remote", lake_root="s3://bench/lake"), df, psutil.Process(server.pid), env)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"load after: {psutil.getloadavg()}")


if __name__ == "__main__":
    main()
