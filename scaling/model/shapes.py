"""The shape rule: a target parameter count -> (layers, width, heads, MLP width).

Rule (stated once, used by sweeps and `scaling plan`): widths are multiples of `width_step`;
depth follows a fixed aspect ratio, n_layers = max(min_layers, round(d_model / aspect_ratio))
(Kaplan et al. 2020 found loss flat for d_model / n_layers between about 20 and 200; GPT-2 small
is 64, Chinchilla's models about 40-130), unless `n_layers` is fixed; heads have `head_dim`
channels (at least one head); the MLP is 4x wide. Among the widths, the one whose counted
parameters (total or non-embedding) are nearest the target in log space wins; the actual N is
what a run records.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from runstore import InputError
from scaling.configio import doc
from scaling.model.config import ModelConfig


@dataclass(frozen=True)
class ShapeRule:
    """How a parameter count becomes a model shape."""

    aspect_ratio: float = doc("d_model / n_layers (ignored when n_layers is fixed)", 64.0)
    n_layers: int = doc("fixed depth; 0 = follow the aspect ratio", 0)
    min_layers: int = doc("smallest depth the aspect rule may pick", 1)
    head_dim: int = doc("channels per attention head", 64)
    width_step: int = doc("d_model is a multiple of this", 16)
    max_width: int = doc("largest d_model considered", 16384)
    count: Literal["total", "nonembedding"] = doc("which parameter count the target refers to",
                                                  "total")

    def validate(self) -> None:
        if self.aspect_ratio <= 0:
            raise InputError("must be > 0", key="aspect_ratio")
        if self.width_step < 1 or self.head_dim < 1 or self.min_layers < 1 or self.n_layers < 0:
            raise InputError("width_step, head_dim, min_layers must be >= 1; n_layers >= 0",
                              key="width_step")

    def shape(self, d_model: int, base: ModelConfig) -> ModelConfig:
        """The model of width d_model under this rule, other fields from `base`."""
        layers = self.n_layers or max(self.min_layers, round(d_model / self.aspect_ratio))
        heads = max(1, d_model // self.head_dim)
        while d_model % heads:
            heads -= 1
        return base.replace(d_model=d_model, n_layers=layers, n_heads=heads, d_ff=4 * d_model)

    def count_params(self, cfg: ModelConfig) -> int:
        return cfg.n_params_total() if self.count == "total" else cfg.n_params_nonembedding()

    def for_params(self, target: float, base: ModelConfig) -> ModelConfig:
        """The shape whose parameter count is nearest `target` (in log space)."""
        if target <= 0:
            raise InputError(f"target parameter count must be > 0, got {target}", key="params")
        best, best_err = None, math.inf
        for d in range(self.width_step, self.max_width + 1, self.width_step):
            cfg = self.shape(d, base)
            n = self.count_params(cfg)
            if n <= 0:
                continue
            err = abs(math.log(n / target))
            if err < best_err:
                best, best_err = cfg, err
            elif n > target:  # counts grow with width: past the target it only gets worse
                break
        assert best is not None
        return best
