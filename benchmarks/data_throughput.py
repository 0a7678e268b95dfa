"""Token-cache build throughput and memory: not a test, heavy (minutes).

    .venv/bin/python -m benchmarks.data_throughput [--sizes 100,400] [--work /tmp/dtp] [--quick]

Makes JSONL corpora of about 100 MB and 400 MB from the installed packages' Python sources (the
suite's site-packages, repeated under new names when they are smaller), builds byte and BPE
(vocab 8192) caches of each with `scaling data prepare` in a fresh process (so that peak RSS is
that build's; BPE encodes over one worker process per core, encode_pool.py, whose peak is
reported beside the builder's), times a second prepare with the cache present, and measures
the bar: raw HF `tokenizers` encode_batch_fast (encode_batch without the character
offsets, the fastest raw call, and the one the workers make) with the same tokenizer on the
same text,
single-threaded (RAYON_NUM_THREADS=1) and on all cores (its own threads). Prints one table.
Compare within one run only, on an otherwise idle machine: the ratio is a parallel speed-up.
"""
from __future__ import annotations

import argparse
import json
import os
import site
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAR_BYTES = 24_000_000  # text the raw encode_batch bar encodes


def make_corpus(path: Path, mb: int) -> dict:
    """JSONL of the site-packages .py files, cycled (names get a pass suffix) up to `mb` MB."""
    if path.exists() and path.stat().st_size >= mb * 1e6 * 0.98:
        return {"path": str(path), "bytes": path.stat().st_size}
    roots = [Path(p) for p in site.getsitepackages()]
    files = sorted(f for r in roots for f in r.rglob("*.py") if f.is_file())
    target, written, rep = mb * 1_000_000, 0, 0
    with open(path, "w", encoding="utf-8") as fh:
        while written < target:
            for f in files:
                try:
                    text = f.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
                line = json.dumps({"text": text, "id": f"{rep}/{f.name}"}) + "\n"
                fh.write(line)
                written += len(line.encode("utf-8"))
                if written >= target:
                    break
            rep += 1
    return {"path": str(path), "bytes": path.stat().st_size, "files": len(files), "passes": rep}


def prepare(src: str, tokenizer: str, cache: Path) -> dict:
    cmd = [sys.executable, "-m", "scaling", "data", "prepare", "--source", src, "--tokenizer",
           tokenizer, "--vocab-size", "8192", "--cache-dir", str(cache), "--json", "--quiet"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(r.stderr)
    out = json.loads(r.stdout)
    out["process_wall_s"] = wall
    out["build"] = json.loads((Path(out["cache"]) / "build.json").read_text())
    return out


BAR = r"""
import json, sys, time
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
texts, n = [], 0
with open(sys.argv[2], encoding="utf-8") as fh:
    for line in fh:
        t = json.loads(line)["text"]; texts.append(t); n += len(t.encode())
        if n >= int(sys.argv[3]): break
encode = getattr(tok, "encode_batch_fast", tok.encode_batch)  # the fastest call: no offsets
t0 = time.perf_counter()
for i in range(0, len(texts), 256):
    encode(texts[i:i + 256], add_special_tokens=False)
print(json.dumps({"mb_per_s": n / 1e6 / (time.perf_counter() - t0), "bytes": n}))
"""


def raw_bar(tokenizer_json: Path, src: str, threads: int | None) -> float:
    env = dict(os.environ)
    if threads:
        env["RAYON_NUM_THREADS"] = str(threads)
    r = subprocess.run([sys.executable, "-c", BAR, str(tokenizer_json), src, str(BAR_BYTES)],
                       capture_output=True, text=True, env=env, check=True)
    return json.loads(r.stdout)["mb_per_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,400", help="corpus sizes in MB")
    ap.add_argument("--work", default="/tmp/data_throughput")
    ap.add_argument("--tokenizers", default="byte,bpe")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f} (shared machine: compare "
          "within this run)", flush=True)
    for mb in [int(s) for s in a.sizes.split(",")]:
        c = make_corpus(work / f"corpus_{mb}mb.jsonl", mb)
        for tok in a.tokenizers.split(","):
            cache = work / f"cache_{mb}_{tok}"
            first = prepare(c["path"], tok, cache)
            again = prepare(c["path"], tok, cache)
            b = first["build"]
            row = {"corpus_mb": round(c["bytes"] / 1e6), "tokenizer": tok,
                   "build_wall_s": b["wall_s"], "mb_per_s": b["mb_per_s"],
                   "encode_mb_per_s": round(c["bytes"] / 1e6 / b["encode_s"], 3),
                   "peak_rss_mb": b["peak_rss_mb"], "workers": b.get("encode_workers", 0),
                   "worker_rss_mb": b.get("worker_peak_rss_mb", 0.0),
                   # all processes at once, at worst: the builder and each worker at its peak
                   "total_rss_mb": round(b["peak_rss_mb"] + b.get("encode_workers", 0)
                                         * b.get("worker_peak_rss_mb", 0.0), 1),
                   "tokens": sum(first["tokens"].values()),
                   "reopen_s": round(again["process_wall_s"], 2), "hit": again["cache_hit"]}
            if tok == "bpe":
                tj = Path(first["cache"]) / "tokenizer.json"
                row["raw_1t_mb_per_s"] = round(raw_bar(tj, c["path"], 1), 3)
                row["raw_all_mb_per_s"] = round(raw_bar(tj, c["path"], None), 3)
                row["ratio_vs_1t"] = round(row["encode_mb_per_s"] / row["raw_1t_mb_per_s"], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    cols = ["corpus_mb", "tokenizer", "build_wall_s", "mb_per_s", "encode_mb_per_s",
            "peak_rss_mb", "workers", "worker_rss_mb", "total_rss_mb", "tokens", "reopen_s", "raw_1t_mb_per_s", "raw_all_mb_per_s",
            "ratio_vs_1t"]
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(k, "")) for k in cols) + " |")


if __name__ == "__main__":
    main()
