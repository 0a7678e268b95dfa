"""A synthetic corpus with a known entropy rate: a first-order Markov chain over printable ASCII.

The transition matrix P (synthetic_states x synthetic_states) is drawn once from the seed: each row
is Dirichlet(ALPHA) mixed with FLOOR of the uniform distribution, so the chain is irreducible and
aperiodic (a unique stationary distribution pi) and its rows are peaked, which puts the entropy
rate well below log(states). Every document starts from pi, so the text is stationary and its
entropy rate is, in closed form,

    H = sum_i pi_i H(P_i)   nats per character = nats per byte = nats per byte-level token,

because every character is one ASCII byte. A model's loss on this text cannot go below H (EOS
tokens between documents aside), which makes it a check on the whole training stack.
"""
from __future__ import annotations

import string

import numpy as np

from scaling.data.config import DataConfig

ALPHABET = " " + string.ascii_lowercase + string.ascii_uppercase + string.digits + \
    string.punctuation  # 95 one-byte characters; a chain uses the first `synthetic_states`
ALPHA = 0.3  # Dirichlet concentration of each row: < 1 makes rows peaked
FLOOR = 0.01  # share of the uniform distribution mixed into each row (ergodicity)
MAX_DOCS = 64
GENERATOR_VERSION = 1  # bump when the text for a given config changes


def alphabet(cfg: DataConfig) -> str:
    return ALPHABET[: cfg.synthetic_states]


def transition_matrix(cfg: DataConfig) -> np.ndarray:
    """[S, S] row-stochastic float64 matrix, a pure function of (synthetic_seed, states)."""
    s = cfg.synthetic_states
    rng = np.random.default_rng([cfg.synthetic_seed, s, 0])
    p = rng.dirichlet(np.full(s, ALPHA), size=s)
    p = (1.0 - FLOOR) * p + FLOOR / s
    return p / p.sum(axis=1, keepdims=True)


def stationary(p: np.ndarray) -> np.ndarray:
    """The stationary distribution pi = pi P of an ergodic chain (power iteration)."""
    pi = np.full(p.shape[0], 1.0 / p.shape[0])
    for _ in range(100_000):
        nxt = pi @ p
        if np.abs(nxt - pi).max() < 1e-15:
            pi = nxt
            break
        pi = nxt
    return pi / pi.sum()


def row_entropies(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)


def entropy_rate_nats(cfg: DataConfig) -> float:
    """H = sum_i pi_i H(P_i): nats per character (= per byte-level token) of the synthetic text."""
    p = transition_matrix(cfg)
    return float(stationary(p) @ row_entropies(p))


def doc_lengths(n_bytes: int) -> list[int]:
    """Split the text into up to 64 documents of (nearly) equal length, at least 2 of them."""
    n = MAX_DOCS if n_bytes >= MAX_DOCS * 1024 else max(2, min(MAX_DOCS, n_bytes // 256))
    return [n_bytes // n + (1 if i < n_bytes % n else 0) for i in range(n)]


def generate(cfg: DataConfig) -> list[tuple[str, str]]:
    """(name, text) documents, `synthetic_bytes` characters in all, deterministic in the config.

    The documents are sampled side by side (one vectorised step per character position), each
    starting from the stationary distribution.
    """
    p = transition_matrix(cfg)
    pi = stationary(p)
    cum = np.cumsum(p, axis=1)
    cum[:, -1] = 1.0 + 1e-12  # guard against rounding: u < 1 always finds a state
    lens = doc_lengths(cfg.synthetic_bytes)
    n_docs, width = len(lens), max(lens)
    rng = np.random.default_rng([cfg.synthetic_seed, cfg.synthetic_states, 1])
    pcum = np.cumsum(pi)
    pcum[-1] = 1.0 + 1e-12
    state = np.searchsorted(pcum, rng.random(n_docs), side="right")
    u = rng.random((width, n_docs))
    out = np.empty((width, n_docs), dtype=np.uint8)
    out[0] = state
    for t in range(1, width):
        state = (u[t][:, None] >= cum[state]).sum(axis=1)
        out[t] = state
    chars = np.frombuffer(alphabet(cfg).encode("ascii"), dtype=np.uint8)
    docs = []
    for d, n in enumerate(lens):
        docs.append((f"synthetic/{d:03d}", chars[out[:n, d]].tobytes().decode("ascii")))
    return docs


def describe(cfg: DataConfig) -> dict:
    """What identifies and characterises the synthetic source (for meta.json)."""
    return {"states": cfg.synthetic_states, "seed": cfg.synthetic_seed,
            "bytes": cfg.synthetic_bytes, "alpha": ALPHA, "floor": FLOOR,
            "generator_version": GENERATOR_VERSION,
            "entropy_rate_nats": entropy_rate_nats(cfg)}
