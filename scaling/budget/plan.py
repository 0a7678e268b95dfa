"""`scaling plan`: what to train with a budget, a model size or a cluster, and will it fit.

    scaling plan --flops 1e21 | --pf-days X | --n-params N | --device h100 --devices 8 --days 3
                 [--mfu 0.4] [--law besiroglu|hoffmann|kaplan|FIT.json] [--vocab-size 32000]
                 [--seq-len 2048] [--batch-size 1] [--json]
    scaling plan --compare [--law ...]     famous models: under- or over-trained?
    scaling plan --list-hardware           the accelerator table with sources

The law gives N_opt and D_opt for C = 6 N D; the shape rule (scaling/model/shapes.py) turns N_opt
into layers and widths; `ModelConfig.flops_per_token()` gives the exact FLOPs that time estimates
use; scaling/budget/memory.py the memory; scaling/hardware.py the peaks. A cluster budget
(--device/--devices/--days) is peak x MFU x time, spent as C = 6ND. Bad input: message on
stderr, exit 2. Old flag names (--gpu, --gpus, --params, --vocab) still work, with a warning.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from runstore import InputError, flops_6nd, read_json
from scaling.budget import compute as cu
from scaling.budget.memory import (
    fits,
    fmt_bytes,
    hold_memory,
    rule_of_thumb_training_memory,
    training_memory,
)
from scaling.hardware import ACCELERATORS, ALIASES, Accelerator, resolve
from scaling.model.config import ModelConfig
from scaling.model.shapes import ShapeRule

#: A D/N within this factor of the law's optimum counts as compute-optimal.
OPTIMAL_BAND = 1.5
#: Precisions the weights-only ("hold") row prices: scaling/precision.py BYTES_PER_PARAM.
HOLD = ("float32", "bfloat16", "int8", "int4")


@dataclass(frozen=True)
class PublishedRun:
    """A published model: parameters and training tokens, with the source of both."""

    name: str
    n_params: float
    tokens: float
    source: str


FAMOUS_MODELS: tuple[PublishedRun, ...] = (
    PublishedRun("GPT-3", 175e9, 300e9, "Brown et al. 2020, arXiv:2005.14165, Table 2.1 and "
                 "Sec. 2.2 (their Table D.1: 3.14e23 FLOPs, 3,640 PF/s-days)"),
    PublishedRun("Gopher", 280e9, 300e9, "Rae et al. 2021, arXiv:2112.11446, Table 1"),
    PublishedRun("OPT-175B", 175e9, 180e9, "Zhang et al. 2022, arXiv:2205.01068, Sec. 2.3"),
    PublishedRun("BLOOM-176B", 176e9, 366e9, "BigScience 2022, arXiv:2211.05100, Sec. 3.5"),
    PublishedRun("Chinchilla", 70e9, 1.4e12, "Hoffmann et al. 2022, arXiv:2203.15556, Table 1"),
    PublishedRun("LLaMA-65B", 65.2e9, 1.4e12, "Touvron et al. 2023, arXiv:2302.13971, Table 2"),
)


# ---- laws and hardware -------------------------------------------------------------------------

def load_law(name: str) -> Any:
    """analysis.get_law, with its input errors turned into InputError (exit 2); a fitted law
    whose fit was judged not identified is refused (its N_opt and D/N are not numbers the data
    determined: `scaling fit` prints no headline for it either), a weak one warned about."""
    import analysis

    try:
        law = analysis.get_law(name)
    except InputError as e:
        raise InputError(f"law '{name}': {e}", key="--law") from None
    status, reasons, path = _fit_verdict(name)
    if status == "not identified":
        raise InputError(f"its fit is not identified ({'; '.join(reasons)}), so "
                         "the N_opt and D/N it would give are not determined by the data",
                         file=path, key="--law",
                         fix="use a reference law (besiroglu, hoffmann, kaplan) or the fit of "
                             "more runs; `scaling fit` says what is missing")
    if status == "weak":
        print(f"warning: law '{name}': its fit is weak ({'; '.join(reasons)}): read the plan "
              "as a rough guide", file=sys.stderr)
    return law


def _fit_verdict(name: str) -> tuple[str | None, list[str], str | None]:
    """(status, reasons, file) of the fit JSON the law `name` was loaded from
    (analysis.laws.law_file); (None, [], None) for a reference law or a plain
    {E, A, B, alpha, beta} file without a verdict."""
    from analysis.laws import REFERENCE_LAWS, law_file

    if name.lower() in REFERENCE_LAWS:
        return None, [], None
    path = law_file(name)
    data = read_json(path)
    verdict = data.get("verdict") if isinstance(data, dict) else None
    if not isinstance(verdict, dict):
        return None, [], str(path)
    reasons = [str(r) for r in verdict.get("reasons") or []] or ["no reason recorded"]
    return verdict.get("status"), reasons, str(path)


def training_peak(acc: Accelerator) -> tuple[float, str]:
    """The dense peak a run trains at: bf16 mixed precision, fp16 where there is no bf16 (V100)."""
    return (acc.bf16, "bf16") if acc.bf16 else (acc.fp16, "fp16")


def _loss_interval(law: Any, n: float, d: float, level: float) -> list[float] | None:
    samples = getattr(law, "samples", None)
    if not samples:
        return None
    E, A, B, al, be = np.asarray(samples, dtype=float).T
    loss = E + A / n**al + B / d**be
    loss = loss[np.isfinite(loss)]
    q = [(1 - level) / 2, (1 + level) / 2]
    return [float(x) for x in np.quantile(loss, q)] if loss.size else None


# ---- the plan ----------------------------------------------------------------------------------

def _check_budget(given: dict, device, days, mfu, devices, vocab_size, seq_len,
                  batch_size) -> None:
    if not given:
        raise InputError("no budget given", key="budget", fix="pass one of --flops C, --pf-days "
                         "X, --n-params N, or --device NAME --devices K --days T")
    if len(given) > 1:
        raise InputError(f"give exactly one budget, got {', '.join(given)}", key="budget")
    for key, v in list(given.items()) + [("--mfu", mfu), ("--devices", devices),
                                         ("--vocab-size", vocab_size), ("--seq-len", seq_len),
                                         ("--batch-size", batch_size)]:
        if not math.isfinite(v) or v <= 0:
            raise InputError(f"must be a positive number, got {v:g}", key=key)
    if mfu > 1:
        raise InputError(f"must be a fraction in (0, 1], got {mfu:g}", key="--mfu")
    if days is not None and device is None:
        raise InputError("--days needs the hardware it is spent on", key="--device",
                         fix="add --device NAME (and --devices K)")


def _optimal(the_law, flops, pf_days, n_params, days, peak, mfu, n_dev) -> tuple[dict, str]:
    """(the law's compute-optimal point with its intervals, where the budget came from)."""
    if n_params is not None:
        opt, source = dict(the_law.for_params(n_params)), "params"
    else:
        if flops is not None:
            C, source = flops, "flops"
        elif pf_days is not None:
            C, source = cu.flops_from_pf_days(pf_days), "pf_days"
        else:
            C, source = cu.flops_for_devices(peak, mfu, n_dev, days), "hardware"
        opt = dict(the_law.optimal(C))
    n_opt, d_opt = float(opt["n_opt"]), float(opt["d_opt"])
    level = float(opt.get("level") or (getattr(the_law, "interval", None) or {}).get("level", 0.8))
    opt["loss_interval"] = _loss_interval(the_law, n_opt, d_opt, level)
    opt["level"] = level if opt["loss_interval"] or "n_opt_interval" in opt else None
    return opt, source


def _memory(cfg: ModelConfig, n_total: int, batch_size: int, acc, n_dev: int) -> dict:
    hold = {p: hold_memory(n_total, p) for p in HOLD}
    train = {p: training_memory(cfg, batch_size, p) for p in ("float32", "bfloat16")}
    label = {"float32": "fp32 Adam", "bfloat16": "bf16 mixed"}
    fit = {f"{label[p]} on 1 x {acc.name}": fits(cfg, batch_size, p, acc.memory_bytes)[1]
           for p in train}
    if n_dev > 1:
        fit.update({f"{label[p]}, ZeRO-3 over {n_dev} x {acc.name}":
                    fits(cfg, batch_size, p, acc.memory_bytes, n_dev, sharded=True)[1]
                    for p in train})
    return {"batch_size": batch_size, "seq_len": cfg.seq_len, "hold": hold,
            "train": {"float32": train["float32"].to_dict(),
                      "bf16_mixed": train["bfloat16"].to_dict()},
            "rows": {"float32": train["float32"].rows(), "bf16_mixed": train["bfloat16"].rows()},
            "rule_of_thumb_float32": rule_of_thumb_training_memory(n_total, "float32"),
            "fits": fit}


def plan(*, flops: float | None = None, pf_days: float | None = None,
         n_params: float | None = None, device: str | None = None, devices: int = 1,
         days: float | None = None, mfu: float = 0.4, law: str = "besiroglu",
         vocab_size: int = 32000, seq_len: int = 2048, batch_size: int = 1) -> dict[str, Any]:
    """Everything `scaling plan` prints, as a JSON-able dict. Bad input raises InputError
    naming the flag (the keywords are the flags: n_params is --n-params)."""
    given = {k: v for k, v in (("--flops", flops), ("--pf-days", pf_days),
                               ("--n-params", n_params), ("--days", days)) if v is not None}
    _check_budget(given, device, days, mfu, devices, vocab_size, seq_len, batch_size)
    acc = _accelerator(device) if device else ACCELERATORS["H100 SXM"]
    n_dev = int(devices)
    peak, peak_dtype = training_peak(acc)
    the_law = load_law(law)
    opt, source = _optimal(the_law, flops, pf_days, n_params, days, peak, mfu, n_dev)
    C, n_opt, d_opt = float(opt["flops"]), float(opt["n_opt"]), float(opt["d_opt"])

    # the shape rule counts what the law counts (Kaplan: non-embedding parameters)
    count = "nonembedding" if getattr(the_law, "params", "total") == "nonembedding" else "total"
    base = ModelConfig(arch="decoder", vocab_size=int(vocab_size), seq_len=int(seq_len))
    cfg = ShapeRule(count=count).for_params(n_opt, base)
    n_total, fpt = cfg.n_params_total(), cfg.flops_per_token()
    exact = fpt * d_opt
    return {
        "law": {"name": getattr(the_law, "name", str(law)), "source": the_law.source,
                "params": getattr(the_law, "params", "total")},
        "budget": {"from": source, "flops": C, "pf_days": cu.pf_days(C)},
        "optimal": opt,
        "shape": {"rule": f"ShapeRule(count={count!r}) defaults", "arch": cfg.arch,
                  "n_layers": cfg.n_layers, "d_model": cfg.d_model, "n_heads": cfg.n_heads,
                  "d_ff": cfg.ff, "vocab_size": cfg.vocab_size, "seq_len": cfg.seq_len,
                  "n_params_total": n_total,
                  "n_params_nonembedding": cfg.n_params_nonembedding()},
        "flops": {"per_token": fpt, "exact": exact, "six_nd": flops_6nd(n_opt, d_opt),
                  "six_nd_actual_shape": flops_6nd(n_total, d_opt), "exact_over_six_nd": exact / C},
        "memory": _memory(cfg, n_total, int(batch_size), acc, n_dev),
        "hardware": {"gpu": acc.name, "n_devices": n_dev, "mfu": mfu, "peak_flops": peak,
                     "peak_dtype": peak_dtype, "memory_bytes": acc.memory_bytes,
                     "source": acc.source,
                     "days": cu.device_days(exact, peak, mfu, n_dev),
                     "days_at_6nd": cu.device_days(C, peak, mfu, n_dev),
                     "device_days": cu.device_days(exact, peak, mfu, 1)},
    }


def _accelerator(name: str) -> Accelerator:
    """The hardware table's entry; its error names this verb's flag."""
    try:
        return resolve(name)
    except InputError as e:
        raise InputError(e.detail, key="--device", fix=e.fix) from None


def assess(n_params: float, tokens: float, law: Any) -> dict[str, Any]:
    """Is a run of N parameters on D tokens under- or over-trained against `law` at C = 6ND?"""
    C = cu.flops_6nd(n_params, tokens)
    opt_ratio = float(law.tokens_per_param(C))
    ratio = (tokens / n_params) / opt_ratio
    if ratio < 1 / OPTIMAL_BAND:
        verdict = "under-trained"
    elif ratio > OPTIMAL_BAND:
        verdict = "over-trained"
    else:
        verdict = "compute-optimal"
    return {"n_params": float(n_params), "tokens": float(tokens), "flops": C,
            "pf_days": cu.pf_days(C), "tokens_per_param": tokens / n_params,
            "optimal_tokens_per_param": opt_ratio, "ratio_to_optimal": ratio,
            "n_opt": float(law.n_opt(C)), "d_opt": float(law.d_opt(C)),
            "tokens_for_n": float(law.for_params(n_params)["d_opt"]),
            "tokens_at_20_per_param": cu.chinchilla_tokens(n_params), "verdict": verdict}


def compare(law: str = "besiroglu") -> dict[str, Any]:
    """assess() for each of FAMOUS_MODELS."""
    the_law = load_law(law)
    rows = [{"model": m.name, **assess(m.n_params, m.tokens, the_law), "source": m.source}
            for m in FAMOUS_MODELS]
    return {"law": {"name": getattr(the_law, "name", law), "source": the_law.source},
            "band": OPTIMAL_BAND, "models": rows}


# ---- printing ----------------------------------------------------------------------------------

def _si(x: float) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def _table(rows: list[tuple[str, str]]) -> list[str]:
    w = max(len(k) for k, _ in rows)
    return [f"  {k:<{w}}  {v}" for k, v in rows]


def format_plan(d: dict[str, Any]) -> str:
    """A plan (from `plan`) as a readable aligned text table."""
    o, s, f, m, h = d["optimal"], d["shape"], d["flops"], d["memory"], d["hardware"]
    lvl = f"{o['level']:.0%}" if o.get("level") else ""

    def iv(key: str, fmt) -> str:
        v = o.get(f"{key}_interval")
        return f"  ({lvl} interval {fmt(v[0])} - {fmt(v[1])})" if v else ""

    out = [f"law: {d['law']['name']} ({d['law']['source']})", "", "compute-optimal allocation"]
    out += _table([
        ("budget C", f"{d['budget']['flops']:.3e} FLOP = {d['budget']['pf_days']:,.2f} PF/s-days"),
        ("N_opt (parameters)", f"{_si(o['n_opt'])}{iv('n_opt', _si)}"),
        ("D_opt (tokens)", f"{_si(o['d_opt'])}{iv('d_opt', _si)}"),
        ("D/N (tokens per param)", f"{o['tokens_per_param']:.1f}"
         f"{iv('tokens_per_param', lambda x: f'{x:.1f}')}"),
        ("predicted loss", f"{o['loss']:.3f} nats/token{iv('loss', lambda x: f'{x:.3f}')}")])
    out += ["", f"shape ({s['rule']}, vocab {s['vocab_size']}, seq {s['seq_len']})"]
    out += _table([
        ("layers / d_model / heads / d_ff",
         f"{s['n_layers']} / {s['d_model']} / {s['n_heads']} / {s['d_ff']}"),
        ("N total / non-embedding",
         f"{_si(s['n_params_total'])} / {_si(s['n_params_nonembedding'])}"),
        ("FLOPs per token (train)", f"{f['per_token']:.4g}  (ModelConfig.flops_per_token)"),
        ("exact FLOPs for D_opt", f"{f['exact']:.3e}  = {f['exact_over_six_nd']:.3f} x 6ND")])
    b32, b16 = m["rows"]["float32"], m["rows"]["bf16_mixed"]
    out += ["", "memory (one device, whole model)"]
    out += _table([("hold fp32 / bf16 / int8 / int4", " / ".join(
        fmt_bytes(m["hold"][p]) for p in HOLD))])
    out.append("  (int4: weights stored or served at 4 bits, e.g. after QAT with "
               "model.quant.weights=4; training with fake quantisation holds the fp32 rows below)")
    out.append(f"  train, Adam, micro-batch {m['batch_size']} x {m['seq_len']} tokens:")
    w = max(len(k) for k, _ in b32 + b16)
    out.append(f"    {'term':<{w}}  {'fp32':>10}")
    out += [f"    {k:<{w}}  {fmt_bytes(v):>10}" for k, v in b32]
    out.append(f"    {'seed notes rule of thumb (20 x fp32 weights)':<{w}}  "
               f"{fmt_bytes(m['rule_of_thumb_float32']):>10}")
    out.append(f"    {'term (bf16 mixed, fp32 master)':<{w}}  {'bf16 mix':>10}")
    out += [f"    {k:<{w}}  {fmt_bytes(v):>10}" for k, v in b16]
    out += [f"  {k}: {v}" for k, v in m["fits"].items()]
    out += ["", f"time on {h['n_devices']} x {h['gpu']} at MFU {h['mfu']:.2f} "
                f"({h['peak_dtype']} dense peak {h['peak_flops'] / 1e12:,.0f} TFLOP/s)"]
    out += _table([("PF/s-days (6ND)", f"{d['budget']['pf_days']:,.2f}"),
                   ("days (exact FLOPs)", f"{h['days']:,.2f}"),
                   ("days (6ND)", f"{h['days_at_6nd']:,.2f}"),
                   ("device-days (exact)", f"{h['device_days']:,.1f}")])
    return "\n".join(out)


def format_compare(d: dict[str, Any]) -> str:
    """The famous-models table: C, PF/s-days, D/N, the law's optimal D/N and a verdict."""
    head = ("model", "N", "D", "C (FLOP)", "PF/s-days", "D/N", "opt D/N", "ratio",
            "D_opt(N)", "20 N", "verdict")
    rows = [(r["model"], _si(r["n_params"]), _si(r["tokens"]), f"{r['flops']:.3g}",
             f"{r['pf_days']:,.0f}", f"{r['tokens_per_param']:.1f}",
             f"{r['optimal_tokens_per_param']:.1f}", f"{r['ratio_to_optimal']:.2f}",
             _si(r["tokens_for_n"]), _si(r["tokens_at_20_per_param"]), r["verdict"])
            for r in d["models"]]
    w = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w[i]) if i in (0, len(r) - 1) else c.rjust(w[i])  # noqa
                               for i, c in enumerate(r)).rstrip()
    out = [f"law: {d['law']['name']} ({d['law']['source']})",
           "C = 6ND; opt D/N: the law's compute-optimal D/N at that C; ratio: D/N over opt D/N "
           f"(compute-optimal within x{d['band']});",
           "D_opt(N): tokens that make N compute-optimal under the law; 20 N: the 20-tokens rule",
           "", line(head)]
    out += [line(r) for r in rows] + ["", "sources:"]
    out += [f"  {r['model']}: {r['source']}" for r in d["models"]]
    return "\n".join(out)


def format_hardware() -> str:
    """The accelerator table: dense peaks (TFLOP/s), memory, source; and the CLI aliases."""
    t = lambda x: "-" if x is None else f"{x / 1e12:,.1f}"  # noqa: E731
    out = ["dense peak TFLOP/s by precision; memory per device",
           f"{'name':<10} {'bf16':>7} {'fp16':>7} {'tf32':>7} {'fp32':>6} {'memory':>9}  source"]
    out += [f"{a.name:<10} {t(a.bf16):>7} {t(a.fp16):>7} {t(a.tf32):>7} {t(a.fp32):>6} "
            f"{fmt_bytes(a.memory_bytes):>9}  {a.source}" for a in ACCELERATORS.values()]
    out.append("aliases: " + ", ".join(f"{k} -> {v}" for k, v in ALIASES.items()))
    return "\n".join(out)


# ---- CLI ---------------------------------------------------------------------------------------

EXAMPLES = """\
examples:
  scaling plan --flops 1e21
  scaling plan --n-params 1e9 --json
  scaling plan --device h100 --devices 8 --days 3 --mfu 0.4
  scaling plan --flops 1e23 --law kaplan --vocab-size 50257
  scaling plan --compare
  scaling plan --list-hardware

Old spellings still work, with a warning: --gpu (--device), --gpus (--devices),
--params (--n-params), --vocab (--vocab-size).
"""


def _number(text: str) -> float:
    """'1e21', '70B', '1.4T', '124M' -> float."""
    t = text.strip()
    scale = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}.get(t[-1:].lower())
    try:
        return float(t[:-1]) * scale if scale else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: '{text}'") from None


def register(sub) -> None:
    """`scaling plan`: its arguments (old spellings as hidden aliases) and its run."""
    from runstore.errors import deprecated

    p = sub.add_parser("plan", help="compute-optimal size, memory and time for a budget",
                       description=__doc__.split("\n")[0], epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--flops", type=_number, help="compute budget C in FLOPs (C = 6ND)")
    p.add_argument("--pf-days", type=_number, help="compute budget in PF/s-days (8.64e19 FLOP)")
    p.add_argument("--n-params", type=_number,
                   help="model size N: compute-optimal D and C for it")
    p.add_argument("--device", help=f"accelerator: {', '.join(ALIASES)}")
    p.add_argument("--devices", type=int, default=1, help="number of devices (default 1)")
    p.add_argument("--days", type=_number,
                   help="wall-clock days on --devices x --device (a budget)")
    p.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilisation (default 0.4)")
    p.add_argument("--law", default="besiroglu", help="besiroglu | hoffmann | kaplan | FIT.json")
    p.add_argument("--vocab-size", type=int, default=32000, help="vocabulary size for the shape")
    p.add_argument("--seq-len", type=int, default=2048, help="sequence length for the shape")
    p.add_argument("--batch-size", type=int, default=1,
                   help="micro-batch (sequences per device) for activation memory (default 1)")
    p.add_argument("--compare", action="store_true", help="famous models against the law")
    p.add_argument("--list-hardware", action="store_true", help="print the accelerator table")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    for old, new in (("--gpu", "--device"), ("--gpus", "--devices"), ("--params", "--n-params"),
                     ("--vocab", "--vocab-size")):
        deprecated(p, old, new)
    p.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    """Print the plan (or the comparison, or the hardware table); bad input raises."""
    if a.list_hardware:
        print(format_hardware())
        return 0
    if a.compare:
        d = compare(a.law)
        print(json.dumps(d, indent=2) if a.json else format_compare(d))
        return 0
    d = plan(flops=a.flops, pf_days=a.pf_days, n_params=a.n_params, device=a.device,
             devices=a.devices, days=a.days, mfu=a.mfu, law=a.law, vocab_size=a.vocab_size,
             seq_len=a.seq_len, batch_size=a.batch_size)
    print(json.dumps(d, indent=2) if a.json else format_plan(d))
    return 0
