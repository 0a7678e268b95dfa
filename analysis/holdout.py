"""The held-out check: fit on every IsoFLOP budget but the largest, predict the largest.

A scaling law is worth having when it extrapolates, so this fits approach 2 or 3 on the smaller
budgets and predicts, at the held-out budget C: the loss of each of its runs, N_opt and the
minimum loss, each with an interval, beside what was measured there (the held-out curve's own
parabola gives the measured N_opt and minimum loss; a bootstrap over its runs, their interval).

Approach 3 predicts with its law, L(N, D), intervals from the law's bootstrap draws.  Approach 2
has no loss model, so it predicts N_opt from its power law, the minimum loss from a power law
of the training minima's losses in C, and each run's loss from a parabola in log N around the
predicted N_opt with the training parabolas' mean curvature; intervals from refitting on runs
resampled within each training budget.  Approach 2 needs 2 training budgets (3 in all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis import approach2
from analysis.bootstrap import interval
from analysis.budgets import group_budgets
from analysis.fit_settings import FitOptions, with_kwargs
from analysis.isoflop_min import locate
from analysis.table import RunTable
from runstore import InputError, chinchilla_allocation


@dataclass(frozen=True, repr=False)
class Holdout:
    """Predicted against measured at the held-out budget, for one group and approach."""

    group: str
    approach: int
    flops: float
    runs: tuple[dict[str, Any], ...]   # run_id, n, d, measured, predicted, interval
    n_opt: dict[str, Any]              # predicted, interval, measured, measured_interval
    min_loss: dict[str, Any]
    verdict: str                       # of the fit on the smaller budgets
    law: str = ""                      # the held-in law (fitted on the smaller budgets), in words

    def __repr__(self) -> str:
        def one(d: dict[str, Any], fmt: str) -> str:
            return f"predicted {d['predicted']:{fmt}}, measured {d['measured']:{fmt}}"
        return (f"Holdout({self.group}, approach {self.approach}, C {self.flops:.3g}: "
                f"N_opt {one(self.n_opt, '.3g')}; min loss {one(self.min_loss, '.4g')}; "
                f"{len(self.runs)} runs)")

    def _repr_html_(self) -> str:
        import html

        head = html.escape(repr(self))
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in (
                r["run_id"], f"{r['n']:.3g}", f"{r['measured']:.4f}",
                _pm(r["predicted"], r["interval"]))) + "</tr>" for r in self.runs)
        return (f"<div><b>{head}</b><br>held-in law: {html.escape(self.law)}<table><tr><th>run"
                "</th><th>N</th><th>measured</th><th>predicted [interval]</th></tr>"
                f"{rows}</table></div>")

    def to_pandas(self) -> Any:
        """One row per held-out run: run_id, n, d, measured, predicted, predicted_lo, _hi."""
        from analysis.result import require_pandas

        return require_pandas().DataFrame([
            {"group": self.group, "approach": self.approach, "run_id": r["run_id"], "n": r["n"],
             "d": r["d"], "measured": r["measured"], "predicted": r["predicted"],
             "predicted_lo": (r["interval"] or [np.nan, np.nan])[0],
             "predicted_hi": (r["interval"] or [np.nan, np.nan])[1]} for r in self.runs])

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "approach": self.approach, "flops": self.flops,
                "runs": [dict(r) for r in self.runs], "n_opt": dict(self.n_opt),
                "min_loss": dict(self.min_loss), "verdict": self.verdict, "law": self.law}


def _split(runs: RunTable) -> tuple[RunTable, RunTable, float]:
    labels = group_budgets(runs.c("total"))
    top = labels == labels.max()
    if labels.max() < 1:
        raise InputError("the held-out check needs 2+ IsoFLOP budgets", key="--holdout",
                         fix="run a sweep with several budgets, or leave --holdout out")
    return runs.subset(~top), runs.subset(top), float(np.exp(np.log(runs.c("total")[top]).mean()))


def _measured(held: RunTable, params: str, level: float, seed: int, n_boot: int
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """N_opt and minimum loss of the held-out curve's parabola, with a bootstrap over its runs."""
    x, loss = np.log(held.n(params)), held["loss"]
    draws = []
    rng = np.random.default_rng(seed)
    for k in range(n_boot + 1):
        pick = np.arange(len(x)) if k == 0 else rng.integers(0, len(x), len(x))
        res = approach2.parabola_min(x[pick], loss[pick])
        if res is not None:
            draws.append((np.exp(res[0]), float(np.polyval(res[1], res[0]))))
    if not draws or approach2.parabola_min(x, loss) is None:
        raise InputError("the held-out curve has no parabola minimum", key="--holdout",
                         fix="the largest budget needs 3+ sizes around its minimum")
    d = np.array(draws)
    iv = (lambda v: interval(v[1:], level) if len(v) > 2 else None)
    return ({"measured": float(d[0, 0]), "measured_interval": iv(d[:, 0])},
            {"measured": float(d[0, 1]), "measured_interval": iv(d[:, 1])})


def _predict3(train: RunTable, held: RunTable, c: float, opt: FitOptions, params: str) -> tuple:
    from analysis.parametric import fit_parametric

    fit = fit_parametric(train, params=params, delta=opt.delta, bootstrap=opt.bootstrap,
                         level=opt.level, seed=opt.seed, budgets=[c], resample=opt.resample,
                         interval_method=opt.interval_method)
    law, row = fit.law, fit.allocation[0]
    s = np.asarray(law.samples) if law.samples else None
    n, d = held.n(params), held["tokens"]

    def loss_iv(nn: Any, dd: Any) -> Any:
        if s is None:
            return None
        nn, dd = np.asarray(nn)[None], np.asarray(dd)[None]
        v = s[:, 0:1] + s[:, 1:2] / nn ** s[:, 3:4] + s[:, 2:3] / dd ** s[:, 4:5]
        return [interval(col, opt.level) for col in v.T]

    ivs = loss_iv(n, d)
    runs = [{"predicted": float(law.loss(ni, di)), "interval": ivs[i] if ivs else None}
            for i, (ni, di) in enumerate(zip(n, d))]
    m_iv = None
    if s is not None:
        ns, ds = chinchilla_allocation(*s[:, :5].T, c)
        m_iv = interval(s[:, 0] + s[:, 1] / ns ** s[:, 3] + s[:, 2] / ds ** s[:, 4], opt.level)
    n_opt = {"predicted": row["n_opt"], "interval": row.get("n_opt_interval")}
    min_loss = {"predicted": row["loss"], "interval": m_iv}
    words = (f"L = {law.E:.4g} + {law.A:.4g}/N^{law.alpha:.4f} + {law.B:.4g}/D^{law.beta:.4f} "
             f"(a = {law.a:.4f})")
    return runs, n_opt, min_loss, fit.verdict.status, words


def _predict2_once(train: RunTable, c: float, params: str, pick: Any = None,
                   estimator: str = "window", window_dex: float = 0.5) -> tuple | None:
    """(N_opt, min loss, curvature, N_opt law) predicted at c from the training budgets'
    minima (the fit's estimator; a budget whose minimum is at an edge is left out)."""
    logn, loss = np.log(train.n(params)), train["loss"]
    labels = group_budgets(train.c("total"))
    cs, ns, ls, curv = [], [], [], []
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        idx = idx if pick is None else pick.choice(idx, idx.size)
        res = locate(logn[idx], loss[idx], estimator, window_dex)
        if res is None or res.edge:
            continue
        cs.append(float(np.exp(np.log(train.c(params)[labels == lab]).mean())))
        ns.append(np.exp(res.x))
        ls.append(float(np.polyval(res.parabola, res.x)))
        curv.append(res.parabola[0])
    if len(cs) < 2:
        return None
    n_law, l_law = approach2.fit_power_law(np.array(cs), np.array(ns)), \
        approach2.fit_power_law(np.array(cs), np.array(ls))
    return float(n_law(c)), float(l_law(c)), float(np.mean(curv)), n_law


def _predict2(train: RunTable, held: RunTable, c: float, opt: FitOptions, params: str) -> tuple:
    est = dict(estimator=opt.estimator, window_dex=opt.window_dex)
    base = _predict2_once(train, c, params, **est)
    if base is None:
        raise InputError("approach 2 needs 2+ training budgets with parabola minima "
                         "(3+ budgets in all)", key="--holdout", fix="use approach 3's check")
    rng = np.random.default_rng(opt.seed)
    draws = [d[:3] for d in (_predict2_once(train, c, params, rng, **est)
                             for _ in range(opt.bootstrap)) if d]
    x = np.log(held.n(params))
    curve = lambda d: d[1] + d[2] * (x - np.log(d[0])) ** 2
    D = np.array(draws) if draws else None
    per = np.array([curve(d) for d in draws]) if draws else None
    runs = [{"predicted": float(v), "interval": interval(per[:, i], opt.level) if draws else None}
            for i, v in enumerate(curve(base))]
    n_opt = {"predicted": base[0], "interval": interval(D[:, 0], opt.level) if draws else None}
    min_loss = {"predicted": base[1], "interval": interval(D[:, 1], opt.level) if draws else None}
    words = f"N_opt = {base[3].k:.4g} C^{base[3].exponent:.4f} ({opt.estimator} minima)"
    return runs, n_opt, min_loss, "n/a", words


def holdout(runs: RunTable, approach: int, options: FitOptions | None = None,
            params: str = "total", **settings: Any) -> Holdout:
    """The held-out check of one group for approach 2 or 3.

    options: a FitOptions, and/or its settings as keywords on top of it
    (``holdout(g, 2, bootstrap=100, level=0.9)``; checked as FitOptions checks them):
    bootstrap (intervals of the predictions; 0: none), level, seed, delta (approach 3),
    estimator and window_dex (approach 2).  params: the N counted ('total', 'nonembedding').
    """
    if approach not in (2, 3):
        raise InputError(f"approach {approach!r}", key="approach", fix="use 2 or 3")
    opt = with_kwargs(options, settings)
    train, held, c = _split(runs)
    predict = _predict3 if approach == 3 else _predict2
    pred, n_opt, min_loss, verdict, law = predict(train, held, c, opt, params)
    m_n, m_l = _measured(held, params, opt.level, opt.seed, min(opt.bootstrap, 200))
    rows = tuple({"run_id": str(r), "n": float(n), "d": float(d), "measured": float(m), **p}
                 for r, n, d, m, p in zip(held["run_id"], held.n(params), held["tokens"],
                                          held["loss"], pred))
    return Holdout("/".join(runs.group), approach, c, rows, {**n_opt, **m_n},
                   {**min_loss, **m_l}, verdict, law)


def _pm(v: float, iv: Any, fmt: str = ".4g") -> str:
    return f"{v:{fmt}}" + (f" [{iv[0]:{fmt}}, {iv[1]:{fmt}}]" if iv else "")


def format_holdout(h: Holdout) -> str:
    """Predicted against measured, one line per run, then N_opt and the minimum loss."""
    head = f"held-out check {h.group}, approach {h.approach}: fitted below C {h.flops:.3g}, " \
           f"predicting C {h.flops:.3g}" + (f" (fit {h.verdict})" if h.verdict != "n/a" else "")
    lines = [head] + ([f"  held-in law: {h.law}"] if h.law else [])
    lines.append(f"  {'run':<34} {'N':>8} {'measured':>9}  predicted [interval]")
    for r in h.runs:
        lines.append(f"  {r['run_id'][:34]:<34} {r['n']:>8.3g} {r['measured']:>9.4f}  "
                     f"{_pm(r['predicted'], r['interval'])}")
    for name, d, fmt in (("N_opt", h.n_opt, ".3g"), ("min loss", h.min_loss, ".4g")):
        lines.append(f"  {name:<9} predicted {_pm(d['predicted'], d['interval'], fmt)}, "
                     f"measured {_pm(d['measured'], d['measured_interval'], fmt)}")
    return "\n".join(lines)
