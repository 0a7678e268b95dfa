"""Which attention implementation a model uses, chosen for the platform its step is compiled
for, passed in explicitly (`build_model(..., platform=)`): a step traced on a CPU host for a TPU
or GPU target gets the target's kernel, never the tracing host's (`jax.default_backend()`).

Implementations (scaling/model/layers.py `attend`):
- einsum: the blocked causal einsum, measured fastest on XLA:CPU (docs/performance.md);
- xla: `jax.nn.dot_product_attention(implementation="xla")`, scores materialised (B x H x T x S);
- cudnn: the same call with implementation="cudnn", cuDNN's fused flash attention (GPU, bf16 or
  fp16, head dim a multiple of 8 up to 128: jax.nn.dot_product_attention's own conditions);
- splash: the Pallas TPU flash attention kernel (jax.experimental.pallas.ops.tpu
  .splash_attention), causal or bidirectional, self or cross, with query and key lengths
  multiples of 128 (its block sizes must be multiples of the TPU's 128 lanes).

`model.attention`: auto (per platform: einsum on CPU, cudnn on GPU, splash on TPU, each where it
applies, else xla), einsum, dot_product (xla; cudnn on GPU where it applies: the older meaning),
flash (cudnn on GPU, splash on TPU, where they apply; einsum on CPU, which has no flash kernel).
"""
from __future__ import annotations

from scaling.model.config import ModelConfig

#: The TPU's vector lanes: splash attention's blocks are multiples of them.
TPU_LANES = 128


def platform_name(platform: str | None) -> str:
    """'cpu' | 'gpu' | 'tpu' for a JAX platform name (cuda and rocm are gpu); None = the
    platform of this process's devices, for a model built where it trains."""
    if platform is None:
        import jax
        platform = jax.devices()[0].platform
    p = platform.lower()
    return "gpu" if p in ("gpu", "cuda", "rocm") else p


def _cudnn_applies(cfg: ModelConfig) -> str:
    """'' when cuDNN's fused attention takes this config, else why not."""
    if cfg.dtype not in ("bfloat16", "float16"):
        return f"cuDNN flash attention needs bf16/fp16, the model computes in {cfg.dtype}"
    K = cfg.head_dim
    if K % 8 or K > 128:
        return f"cuDNN flash attention needs a head dim that is a multiple of 8 up to 128, not {K}"
    return ""


def _splash_applies(q_len: int, kv_len: int) -> str:
    """'' when the Pallas TPU kernel takes these lengths, else why not."""
    if q_len % TPU_LANES or kv_len % TPU_LANES:
        return (f"Pallas splash attention needs lengths that are multiples of {TPU_LANES}, "
                f"not {q_len} x {kv_len}")
    return ""


def choose(cfg: ModelConfig, platform: str | None, *, q_len: int, kv_len: int) -> tuple[str, str]:
    """(implementation, why) for one attention of `cfg` on `platform`."""
    p, want = platform_name(platform), cfg.attention
    if want == "einsum":
        return "einsum", "model.attention: einsum"
    if want == "dot_product" and p != "gpu":
        return "xla", "model.attention: dot_product"
    if p == "cpu":
        return "einsum", ("no flash kernel on CPU" if want == "flash" else
                          "auto on CPU: the blocked einsum (fastest on XLA:CPU)")
    if p == "gpu":
        why = _cudnn_applies(cfg)
        return ("xla", f"{why}: XLA's attention") if why else ("cudnn", "cuDNN flash attention")
    if p == "tpu":
        if want == "dot_product":
            return "xla", "model.attention: dot_product"
        why = _splash_applies(q_len, kv_len)
        return ("xla", f"{why}: XLA's attention") if why else ("splash", "Pallas splash attention")
    return "xla", f"platform {p}: XLA's attention"


def attention_plan(cfg: ModelConfig, platform: str | None) -> dict[str, tuple[str, str]]:
    """Every attention of the model -> (implementation, why): what a dry run prints."""
    T = cfg.seq_len
    if cfg.arch == "decoder":
        return {"self (causal)": choose(cfg, platform, q_len=T, kv_len=T)}
    if cfg.arch == "encoder":
        return {"self (bidirectional)": choose(cfg, platform, q_len=T, kv_len=T)}
    Td = cfg.decoder_len
    return {"encoder self": choose(cfg, platform, q_len=T, kv_len=T),
            "decoder self (causal)": choose(cfg, platform, q_len=Td, kv_len=Td),
            "cross": choose(cfg, platform, q_len=Td, kv_len=T)}
