"""Benchmark of the synthetic shop generator: end-to-end events written per second, and the vectorized JSON-lines
writer against the obvious baseline (``json.dumps`` per event) on the same events, measured in the same run.

    .venv/bin/python bench/bench_generate.py [--users 50000 --items 5000 --days 3]

Prints a table, then ONE JSON line. CPU seconds are reported beside wall seconds because a shared machine inflates
wall time; the generator is single-threaded, so events per CPU second is its one-core speed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def _baseline_lines(batch, event_num, user_num, item_num) -> list[str]:
    """What a straightforward generator would do: one dict and one json.dumps per event."""
    from coldrec.data.generator.events import TYPE_NAMES
    from coldrec.data.generator.jsonl import iso

    out = []
    for k in range(len(batch)):
        rec = {
            "event_id": f"e{event_num[k]}",
            "user_id": f"u{user_num[batch.user[k]]}",
            "item_id": f"i{item_num[batch.item[k]]}",
            "event_type": TYPE_NAMES[batch.etype[k]],
            "ts": int(batch.ts[k]) if batch.millis[k] else iso(int(batch.ts[k])),
        }
        if batch.session[k] >= 0:
            rec["session_id"] = f"s{batch.session[k]}"
        if batch.price[k] >= 0:
            rec["price"] = round(batch.price[k] / 100, 2)
        if batch.qty[k] > 0:
            rec["quantity"] = int(batch.qty[k])
        if batch.rating[k] > 0:
            rec["rating"] = int(batch.rating[k])
        out.append(json.dumps(rec, separators=(",", ":")) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="folder to write (default: a temp dir, removed afterwards)")
    args = parser.parse_args()

    from coldrec.data.generator import ShopConfig, ShopGenerator
    from coldrec.data.generator.catalog import ItemSampler

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="coldrec-bench-"))
    try:
        config = ShopConfig(users=args.users, items=args.items, days=args.days, seed=args.seed)
        wall, cpu = time.perf_counter(), time.process_time()
        generator = ShopGenerator(config, out)
        truth = generator.run(progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        lines = truth.totals["event_lines"]
        size = sum(p.stat().st_size for p in (out / "events").rglob("*.jsonl"))

        # Serializer: the same 100k events through both writers.
        probe = ShopGenerator(config, out / "_probe")
        batch = probe.sim.chunk(
            0, 0, len(probe.users), ItemSampler.for_day(probe.catalog, 0), np.random.default_rng(0), True
        )
        batch = batch.take(np.arange(min(len(batch), 100_000)))
        event_num = np.arange(1, len(batch) + 1)
        t = time.process_time()
        fast = probe.formatter.lines(batch, event_num)
        fast_s = time.process_time() - t
        t = time.process_time()
        slow = _baseline_lines(batch, event_num, probe.users.num, probe.catalog.num)
        slow_s = time.process_time() - t
        same = [json.loads(x) for x in fast.slice(0, 1000).to_pylist()] == [json.loads(x) for x in slow[:1000]]
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)

    result = {
        "bench": "generate",
        "users": args.users,
        "items": args.items,
        "days": args.days,
        "event_lines": lines,
        "mb_written": round(size / 1e6, 1),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "events_per_s_wall": round(lines / wall),
        "events_per_s_cpu": round(lines / cpu),
        "serializer_events": len(batch),
        "serializer_cpu_s": round(fast_s, 3),
        "baseline_json_dumps_cpu_s": round(slow_s, 3),
        "serializer_speedup": round(slow_s / fast_s, 1),
        "serializer_output_equal": same,
    }
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
