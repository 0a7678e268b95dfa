"""`scaling data prepare|info`: build (or find) a token cache, list the caches.

    scaling data prepare configs/sample_1m.yaml          # the data section of a run config
    scaling data prepare sweeps/quickstart.yaml          # or of a sweep file's base run
    scaling data prepare --source corpus.jsonl.zst --tokenizer bpe --vocab-size 8192 --json
    scaling data info [--cache-dir DIR] [--json]
"""
from __future__ import annotations

import argparse
import json
import time

from scaling.data.config import DataConfig

EPILOG = __doc__.split("\n\n", 1)[1]


def register(sub) -> None:
    """`scaling data prepare|info`: the arguments and the run of each."""
    from scaling.cli_args import add_set_arg

    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("data", help="build (prepare) or list (info) token caches",
                       description="Token caches: build, list.", epilog=EPILOG,
                       formatter_class=raw)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    pr = actions.add_parser("prepare", help="build (or find) the token cache of a config or "
                            "source", epilog=EPILOG, formatter_class=raw)
    pr.add_argument("config", nargs="?", help="run config or sweep file (its data section)")
    pr.add_argument("--source", help="data.source (instead of a config)")
    pr.add_argument("--tokenizer", help="byte | bpe | file:PATH/tokenizer.json")
    pr.add_argument("--vocab-size", type=int, help="bpe vocabulary size")
    add_set_arg(pr, "data", "text_field=content")
    pr.add_argument("--cache-dir", help="data.cache_dir")
    pr.add_argument("--json", action="store_true", help="print the result as JSON")
    pr.add_argument("--quiet", action="store_true", help="no progress lines")
    pr.set_defaults(run=_prepare)
    info = actions.add_parser("info", help="list the token caches of a cache folder")
    info.add_argument("--cache-dir", help="default: $SCALING_CACHE or ~/.cache/scaling")
    info.add_argument("--json", action="store_true", help="print JSON instead of the list")
    info.set_defaults(run=_info)


def data_config(a) -> DataConfig:
    """The DataConfig of `prepare`: from a run config / sweep file, or from the flags."""
    from runstore import InputError
    flags = {k: getattr(a, f) for f, k in (("source", "source"), ("tokenizer", "tokenizer"),
                                            ("vocab_size", "vocab_size"),
                                            ("cache_dir", "cache_dir"))
             if getattr(a, f) is not None}  # taken as they are: no YAML ('*.txt' is no alias)
    sets = [s[5:] if s.startswith("data.") else s for s in a.set]
    if a.config:
        from scaling.configio import load_yaml
        raw = load_yaml(a.config)
        cfg = None
        if isinstance(raw, dict) and "grid" in raw:
            from scaling.sweep.config import load_sweep
            cfg = load_sweep(a.config, [f"base.data.{s}" for s in sets]).base_run().data
        else:
            from scaling.train.config import load_run_config
            cfg = load_run_config(a.config, [f"data.{s}" for s in sets]).data
        return cfg.replace(**flags) if flags else cfg
    if a.source is None:
        raise InputError("give a config file or --source", key="data.source",
                         fix="scaling data prepare --source corpus.jsonl --tokenizer byte")
    from scaling.configio import apply_overrides, from_dict
    return from_dict(DataConfig, apply_overrides(flags, sets), file="--set", prefix="data")


def _prepare(a) -> int:
    from scaling.data.build import peak_rss_mb
    from scaling.data.dataset import load_dataset
    cfg = data_config(a)
    t0 = time.perf_counter()
    ds = load_dataset(cfg, progress=not a.quiet)
    m = ds.meta
    out = {"cache": m["cache_dir"], "cache_hit": m["cache_hit"], "source": cfg.source,
           "tokenizer": ds.tokenizer.name, "vocab_size": ds.tokenizer.vocab_size,
           "tokens": m["n_tokens"], "documents": m["n_docs"], "bytes": m["n_bytes"],
           "bytes_per_token": ds.bytes_per_token, "wall_s": round(time.perf_counter() - t0, 3),
           "peak_rss_mb": round(peak_rss_mb(), 1)}
    workers = _built_workers(m)
    if workers:
        out["worker_peak_rss_mb"] = workers
    if a.json:
        print(json.dumps(out, indent=2))
        return 0
    bpt = "n/a" if out["bytes_per_token"] is None else f"{out['bytes_per_token']:.3f}"
    print(f"cache      {out['cache']} ({'found' if out['cache_hit'] else 'built'})\n"
          f"tokenizer  {out['tokenizer']} (vocab {out['vocab_size']})\n"
          f"tokens     train {m['n_tokens']['train']:,}  val {m['n_tokens']['val']:,}\n"
          f"documents  train {m['n_docs']['train']:,}  val {m['n_docs']['val']:,}\n"
          f"bytes/tok  {bpt}\n"
          f"wall       {out['wall_s']:.2f} s   peak memory {out['peak_rss_mb']:.0f} MB"
          + (f" (+ {out['worker_peak_rss_mb']:.0f} MB per encode worker)" if workers else ""))
    return 0


def _built_workers(meta: dict) -> float:
    """Peak memory of one encode worker (encode_pool.py) when this process built the cache,
    as the build recorded it in build.json; 0 when it encoded in-process or found the cache."""
    if meta["cache_hit"]:
        return 0.0
    from scaling.data import cache

    b = cache.read_record(meta["cache_dir"], cache.BUILD)
    return float(b.get("worker_peak_rss_mb", 0.0)) if b.get("encode_workers") else 0.0


def _info(a) -> int:
    from pathlib import Path

    from scaling.data import cache
    from scaling.data.config import default_cache_dir
    root = Path(a.cache_dir).expanduser() if a.cache_dir else default_cache_dir()
    rows = cache.list_entries(root)
    if a.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    print(f"token caches in {root}:" if rows else f"no token caches in {root}")
    for r in rows:
        if not r["complete"]:
            print(f"  {r['key']}  (left by an interrupted build; removed by the next build)")
            continue
        m, b = r["meta"], r["build"]
        tok = (m.get("tokenizer") or {}).get("name", "?")
        n = m.get("n_tokens", {})
        print(f"  {r['key']}  {m.get('source', '?')}  {tok}  train {n.get('train', 0):,}  "
              f"val {n.get('val', 0):,} tokens  {r['bytes_on_disk'] / 1e6:.1f} MB  "
              f"built in {b.get('wall_s', '?')} s")
    return 0
