"""Memory to hold and to train a model, term by term (the seed notes' arithmetic, made explicit).

Bytes per parameter: fp32 4, fp16/bf16 2, int8 1 (int8 is for holding weights at inference only).

Training with Adam, per parameter:
- float32:            4 weights + 4 gradients + 8 Adam moments (m, v in fp32)       = 16 bytes
- bf16/fp16 mixed:    2 half-precision weight copy + 4 fp32 master weights
                      + 2 half-precision gradients + 8 fp32 Adam moments            = 16 bytes
  (the Megatron / ZeRO convention; this suite's own `dtype: bfloat16` keeps fp32 parameters and
  casts inside the step, which is the same total within the 2-byte copy)
plus activations saved for the backward pass, at 4 bytes (fp32) or 2 bytes (mixed) per element.

Activations, counted for one device holding the whole model (no sharding, no recomputation, no
dropout masks: Korthikanti et al. 2022's count without dropout), per layer and per token:
- 8 tensors of width d: layer input, LN1 output, Q, K, V, attention context, the residual after
  attention (LN2 input), LN2 output;
- MLP hidden tensors of width d_ff: 2 for GELU (pre- and post-activation), 3 for SwiGLU (gate,
  up, gated product);
- per layer and per sequence: the softmax probabilities, B x H x T x T;
plus the final norm's input and output (2 x d per token) and the logits B x T x V.
Encoder-decoder adds, per decoder layer, 4 tensors of width d for cross-attention (input, LN
output, Q, context), its K and V over the encoder tokens, and B x H x T_dec x T_enc probabilities.
On top of the saved tensors, XLA keeps temporaries (the fp32 scores beside the probabilities,
GELU and norm intermediates, fusion buffers): measured with `scaling sweep --check-memory` on the
peers' configs A/B/C (jax 0.10.2, XLA:CPU), the compiled step's temporaries were 1.85-1.95x the
saved activations counted above, so the calculator adds WORKSPACE_FACTOR x activations. With
attention in a kernel on an accelerator (flash) the TPU and GPU compilers were measured to keep
two more copies of the logits instead (FLASH_LOGITS_WORKSPACE, a fitted factor).

What a run's options change: `microbatches` k divides the activations by k and adds an fp32
gradient accumulator (4 B/param); `remat` block keeps one residual-stream tensor per layer plus one
layer's activations during its recomputation, dots also the linear layers' outputs; FSDP over n
devices divides weights, gradients and Adam moments by n (activations stay per device). XLA:CPU's
scheduler was measured to save nothing from remat (temporaries identical with and without), so
the planner models it on accelerators only (`remat_saves`).

Rule of thumb (seed notes): 1B parameters take 4 GB to hold at fp32 and about 80 GB to train,
i.e. training ~ 20 x the memory of the held weights. The notes word it "about 20 bytes per
parameter beyond the weights", but their own figure (80 GB for 1B at fp32) is 20 x the 4-byte
weights; `rule_of_thumb_training_memory` reproduces the figure.
"""
from __future__ import annotations

from dataclasses import dataclass

from runstore import InputError
from scaling.model.config import ModelConfig
from scaling.precision import BYTES_PER_PARAM, canonical_precision

#: The seed notes' factor: training memory ~ this x the held weights.
RULE_OF_THUMB_FACTOR = 20.0
#: Width-d tensors saved per transformer layer for backward (see module docstring).
SAVED_D_TENSORS = 8
#: Extra width-d tensors per decoder layer with cross-attention.
SAVED_CROSS_D_TENSORS = 4
#: XLA's temporaries beyond the saved activations, as a share of them (module docstring).
WORKSPACE_FACTOR = 0.9
#: With attention in a kernel (flash: Pallas splash on TPU, cuDNN on GPU) the accelerator
#: compilers keep the saved activations and, beyond them, about two more copies of the logits
#: (the fp32 log-softmax and its gradient), not WORKSPACE_FACTOR x activations. A FITTED factor:
#: least squares of the TPU compiler's peak (tpu_chinchilla, tpu-v5p-2x2x1, libtpu 0.0.42.1, 8
#: distinct steps) on states + x activations + y logits gave x = 0.974, y = 3.03 (1 and 3 here:
#: TPU 0.99-1.03x of the peak), checked out of sample on the GPU compiler's peaks of
#: gpu_chinchilla for an H100 (docs/performance.md, "Compiled for accelerators").
FLASH_LOGITS_WORKSPACE = 2.0
#: XLA:GPU's memory limit for its scheduler and rematerialization pass (gpu_compiler.cc
#: GetSchedulerMemoryLimit, jax 0.10.2's plugin): 80% of the target's device memory, less the
#: step's inputs and outputs, times the flag xla_gpu_memory_limit_slop_factor (default 95), plus
#: those inputs again. Its log gave 60.12 / 60.17 / 60.21 / 60.25 / 60.35 GiB for gpu_chinchilla's
#: steps on the H100 config (84,929,347,584 bytes), as this formula does with io = the states.
#: XLA's own rule, not a fitted factor.
XLA_GPU_MEMORY_FRACTION = 0.80
XLA_GPU_SLOP = 0.95
#: Width-d tensors per layer that remat 'dots' keeps: block input, Q, K, V (one fused matmul),
#: attention output projection, MLP output projection; plus the MLP's up projection (width d_ff).
DOTS_SAVED_D_TENSORS = 5


def hold_memory(n_params: float, precision: str = "float32") -> int:
    """Bytes to hold n_params weights at `precision` (fp32 4, fp16/bf16 2, int8 1 per parameter)."""
    return int(round(n_params * BYTES_PER_PARAM[canonical_precision(precision)]))


def stored_weight_bytes(cfg: ModelConfig) -> int:
    """Bytes to store (serve) the model's weights at its precision: with `model.quant`, the
    quantised weights at their bits / 8 (the token table too if `quant.embeddings`), the rest
    in the compute dtype. Fake-quant TRAINING holds float32 weights and Adam states all the
    same: its memory is the full-precision one (training_memory)."""
    n_total, n_emb = cfg.n_params_total(), cfg.n_params_total() - cfg.n_params_nonembedding()
    q, full = cfg.quant, BYTES_PER_PARAM[canonical_precision(cfg.dtype)]
    if q is None or not q.weights:
        return int(round(n_total * full))
    per_q = q.stored_bytes_per_param()
    emb = per_q if q.embeddings else full
    return int(round((n_total - n_emb) * per_q + n_emb * emb))


def rule_of_thumb_training_memory(n_params: float, precision: str = "float32") -> int:
    """The seed notes' estimate: ~20 x the held weights (1B at fp32: 4 GB -> ~80 GB)."""
    return int(round(RULE_OF_THUMB_FACTOR * hold_memory(n_params, precision)))


@dataclass(frozen=True)
class MemoryBreakdown:
    """Training memory on one device, by term, in bytes."""

    precision: str  # 'float32' or the half type of mixed precision ('bfloat16' / 'float16')
    n_params: int
    batch_size: int
    weights: int  # working weights: fp32 (float32) or the half-precision copy (mixed)
    master_weights: int  # fp32 master copy (mixed precision only; 0 for float32)
    gradients: int
    optimizer: int  # Adam's two fp32 moments
    activations: int
    activation_terms: tuple[tuple[str, int], ...]  # the activations split by tensor kind
    workspace: int = 0  # XLA's temporaries beyond the saved activations (WORKSPACE_FACTOR)
    workspace_rule: str = f"{WORKSPACE_FACTOR:g} x activations"  # how `workspace` was counted
    accumulator: int = 0  # fp32 gradient sum of gradient accumulation (microbatches > 1)
    microbatches: int = 1
    remat: str = "none"
    shards: int = 1  # FSDP: devices the states are sharded over

    @property
    def states(self) -> int:
        """Everything but activations: what ZeRO-3 / FSDP shards over devices."""
        return self.weights + self.master_weights + self.gradients + self.optimizer

    @property
    def total(self) -> int:
        """Per device: states (sharded over `shards`), accumulator, activations, workspace."""
        return (self.states + self.accumulator) // self.shards + self.activations + self.workspace

    @property
    def bytes_per_param(self) -> float:
        """Bytes per parameter excluding activations (16 for Adam in both conventions)."""
        return self.states / self.n_params

    def rows(self) -> list[tuple[str, int]]:
        """(label, bytes) lines for printing, ending with the total."""
        mixed = self.master_weights > 0
        rows = [(f"weights ({'half copy, 2' if mixed else 'fp32, 4'} B/param)", self.weights)]
        if mixed:
            rows.append(("master weights (fp32, 4 B/param)", self.master_weights))
        rows += [(f"gradients ({2 if mixed else 4} B/param)", self.gradients),
                 ("Adam moments (fp32 m and v, 8 B/param)", self.optimizer),
                 (f"activations (batch {self.batch_size}, {2 if mixed else 4} B/element)",
                  self.activations)]
        rows += [(f"  {name}", b) for name, b in self.activation_terms]
        if self.accumulator:
            rows.append((f"gradient accumulator (fp32, {self.microbatches} microbatches)",
                         self.accumulator))
        rows.append((f"XLA temporaries ({self.workspace_rule})", self.workspace))
        if self.shards > 1:
            rows.append((f"states and accumulator sharded over {self.shards} devices (FSDP)",
                         -(self.states + self.accumulator) * (self.shards - 1) // self.shards))
        rows.append(("total", self.total))
        return rows

    def to_dict(self) -> dict:
        return {"precision": self.precision, "n_params": self.n_params,
                "batch_size": self.batch_size, "weights": self.weights,
                "master_weights": self.master_weights, "gradients": self.gradients,
                "optimizer": self.optimizer, "activations": self.activations,
                "activation_terms": dict(self.activation_terms), "workspace": self.workspace,
                "accumulator": self.accumulator, "microbatches": self.microbatches,
                "remat": self.remat, "shards": self.shards, "total": self.total}


#: The activation term of the logits (the flash workspace is counted from it).
LOGITS = "logits (B x T x V)"


def activation_elements(cfg: ModelConfig, batch_size: int,
                        remat: str = "none", flash: bool = False) -> dict[str, int]:
    """Saved activation elements for a batch of `batch_size` sequences, by tensor kind. With
    `flash` (a fused attention kernel: Pallas splash on TPU, cuDNN on GPU) the B x H x T x S
    probabilities are never stored: the kernel keeps one log-sum-exp per query row instead."""
    d, L, H, V = cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.vocab_size
    mlp_tensors = 3 if cfg.mlp == "swiglu" else 2
    B = batch_size
    if cfg.arch == "encoder_decoder":
        Te, Td = cfg.seq_len, cfg.decoder_len
        tokens = Te + Td  # both stacks have L layers
        width_d = L * SAVED_D_TENSORS * tokens + L * SAVED_CROSS_D_TENSORS * Td
        width_d += L * 2 * Te  # cross-attention K and V, over encoder tokens, per decoder layer
        scores = L * H * ((Te + Td + Td) if flash else (Te * Te + Td * Td + Td * Te))
        norms = 2 * tokens  # each stack's final norm, input and output
        logits_tokens = Td
    else:
        tokens = cfg.seq_len
        width_d = L * SAVED_D_TENSORS * tokens
        scores = L * H * tokens * (1 if flash else tokens)
        norms = 2 * tokens
        logits_tokens = tokens
    layers = {
        "width-d tensors (residual, norms, Q, K, V, context)": B * width_d * d,
        f"MLP hidden ({mlp_tensors} x d_ff per layer)": B * L * mlp_tensors * tokens * cfg.ff,
        "attention probabilities (B x H x T x T per layer)": B * scores,
    }
    if remat != "none":
        layers = _remat_elements(cfg, B, tokens, sum(layers.values()), remat)
    return {**layers, "final norm (2 x d per token)": B * norms * d,
            LOGITS: B * logits_tokens * V}


def _remat_elements(cfg: ModelConfig, B: int, tokens: int, all_layers: int,
                    remat: str) -> dict[str, int]:
    """Under remat, what the layers keep: the block input (block) or also the linear layers'
    outputs (dots) of every layer but the one being recomputed, which holds all of its own."""
    up = cfg.ff * (2 if cfg.mlp == "swiglu" else 1)
    keep = cfg.d_model if remat == "block" else DOTS_SAVED_D_TENSORS * cfg.d_model + up
    return {f"remat {remat}: kept per layer": B * (cfg.n_layers - 1) * tokens * keep,
            "remat: one layer recomputed at a time": all_layers // cfg.n_layers}


def training_memory(cfg: ModelConfig, batch_size: int, precision: str = "float32", *,
                    microbatches: int = 1, remat: str = "none",
                    shards: int = 1, flash: bool = False) -> MemoryBreakdown:
    """Memory to train `cfg` with Adam on one device at per-device batch `batch_size` (split
    into `microbatches`, rematerialised as `remat`, states sharded over `shards`), by term.

    precision 'float32': everything fp32. 'bfloat16' / 'float16': mixed precision with fp32 master
    weights and fp32 Adam moments (module docstring). 'int8' is refused: it is for holding only.
    """
    p = canonical_precision(precision)
    if p == "int8":
        raise InputError("int8 is a hold-only (inference) precision; training needs float32 or "
                         "bf16/fp16 mixed precision", key="precision")
    if batch_size < 1:
        raise InputError(f"batch size must be >= 1, got {batch_size}", key="batch_size")
    n = cfg.n_params_total()
    act_b = BYTES_PER_PARAM[p]
    per_micro = max(1, batch_size // microbatches)
    terms = tuple((k, v * act_b) for k, v in
                  activation_elements(cfg, per_micro, remat, flash).items())
    activations = sum(v for _, v in terms)
    mixed = p != "float32"
    return MemoryBreakdown(
        precision=p, n_params=n, batch_size=batch_size,
        weights=n * (2 if mixed else 4),
        master_weights=n * 4 if mixed else 0,
        gradients=n * (2 if mixed else 4),
        optimizer=n * 8,
        activations=activations,
        activation_terms=terms,
        workspace=int(FLASH_LOGITS_WORKSPACE * dict(terms)[LOGITS] if flash
                      else WORKSPACE_FACTOR * activations),
        workspace_rule=(f"{FLASH_LOGITS_WORKSPACE:g} x the logits: attention in a kernel" if flash
                        else f"{WORKSPACE_FACTOR:g} x activations"),
        accumulator=n * 4 if microbatches > 1 else 0,
        microbatches=microbatches, remat=remat, shards=shards,
    )


def xla_gpu_remat_limit(device_memory: int, io_bytes: int) -> int:
    """XLA:GPU's memory limit for a step whose (donated) inputs and outputs hold io_bytes: above
    it the compiler recomputes (rematerializes) instructions until its own estimate is under
    it, so a compiled GPU step's peak does not exceed it where recomputation can get there."""
    return int(XLA_GPU_SLOP * (XLA_GPU_MEMORY_FRACTION * device_memory - io_bytes) + io_bytes)


def fits(cfg: ModelConfig, batch_size: int, precision: str, device_bytes: float,
         n_devices: int = 1, sharded: bool = False, *, microbatches: int = 1,
         remat: str = "none") -> tuple[bool, str]:
    """Whether training `cfg` fits a device of `device_bytes`, and why (or why not).

    sharded=True assumes ZeRO-3 / FSDP over n_devices: weights, gradients and optimizer states
    divide by n_devices, activations (per-device batch, over `microbatches`) do not.
    """
    k = n_devices if sharded else 1
    m = training_memory(cfg, batch_size, precision, microbatches=microbatches, remat=remat,
                        shards=k)
    need = m.total
    how = f"states {fmt_bytes((m.states + m.accumulator) / k)}" + (
        f" (sharded over {k})" if k > 1 else "")
    split = f" in {microbatches} microbatches" if microbatches > 1 else ""
    detail = (f"{fmt_bytes(need)} needed ({how} + activations and temporaries "
              f"{fmt_bytes(m.activations + m.workspace)} at batch {batch_size}{split}"
              f"{', remat ' + remat if remat != 'none' else ''}, {m.precision}) of "
              f"{fmt_bytes(device_bytes)} per device")
    if need <= device_bytes:
        return True, f"fits: {detail}"
    return False, f"does not fit: {detail}"


def check_states_fit(cfg: ModelConfig, precision: str, device_bytes: float, source: str,
                     shards: int = 1) -> None:
    """InputError when the weights, gradients and Adam moments alone (no activations: a bound
    no batch or remat choice can lower) exceed a device's memory, so that a run that cannot
    even be initialised is refused before its folder is written, not by XLA's
    RESOURCE_EXHAUSTED (or the kernel's OOM killer) after it."""
    m = training_memory(cfg, 1, precision, shards=shards)
    need = m.states / shards
    if need <= device_bytes:
        return
    emb = cfg.vocab_size * cfg.d_model
    why = (f" (the vocabulary of {cfg.vocab_size:,} x d_model {cfg.d_model} is "
           f"{emb / m.n_params:.0%} of them)" if emb > m.n_params / 2 else "")
    split = f", sharded over {shards} devices" if shards > 1 else ""
    raise InputError(f"N = {m.n_params:,} parameters{why} need {fmt_bytes(need)} per device for "
                     f"weights, gradients and Adam moments{split} alone, more than the "
                     f"{fmt_bytes(device_bytes)} there ({source})", key="model",
                     fix="a smaller model or vocabulary, more devices with train.fsdp, or "
                         "plan it first: scaling plan")


def fmt_bytes(b: float) -> str:
    """Decimal units, as the seed notes write them (1B fp32 params = 4 GB)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(b) >= scale:
            return f"{b / scale:,.1f} {unit}"
    return f"{b:,.0f} B"
