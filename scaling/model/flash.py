"""Flash attention on TPU: the Pallas splash attention kernel
(`jax.experimental.pallas.ops.tpu.splash_attention`), for causal and bidirectional self-attention
and for cross-attention (query and key lengths may differ). It never materialises the
B x H x T x S scores: XLA's attention on TPU does (59 GiB per chip at T = 2048 in the issue's
measurement), so this is what makes long sequences fit.

Inputs B x T x H x K as everywhere in the model; the kernel takes one example's H x T x K, so it
is vmapped over the batch, and under a mesh with a 'data' axis (the compile harness and a TPU
run set one with `jax.set_mesh`) it runs per device through shard_map over the batch rows: XLA
cannot partition a Mosaic kernel itself, and would otherwise gather the whole batch to every chip.
The kernel does not scale the scores: q is scaled by K^-1/2 first, as `attend` does.

`interpret=True` runs the kernel in Pallas's interpreter (any backend, slowly): the numerics test
on CPU (tests/test_attention_impl.py) compares it, and its gradients, with the einsum path.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

#: Block sizes tried, largest first: each must divide the length and be a multiple of 128 lanes.
BLOCKS = (512, 256, 128)


def _block(n: int) -> int:
    for b in BLOCKS:
        if n % b == 0:
            return b
    raise ValueError(f"splash attention needs a length that is a multiple of 128, got {n}")


@functools.lru_cache(maxsize=64)
def _kernel(H: int, T: int, S: int, causal: bool, interpret: bool):
    from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_kernel as sk
    from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_mask as sm

    one = sm.CausalMask((T, S)) if causal else sm.FullMask((T, S))
    bq, bkv = _block(T), _block(S)
    sizes = sk.BlockSizes(block_q=bq, block_kv=bkv, block_kv_compute=bkv, block_q_dkv=bq,
                          block_kv_dkv=bkv, block_kv_dkv_compute=bkv, block_q_dq=bq,
                          block_kv_dq=bkv)
    return sk.make_splash_mha(sm.MultiHeadMask([one] * H), block_sizes=sizes, head_shards=1,
                              q_seq_shards=1, interpret=interpret)


def _local(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, causal: bool, interpret: bool) -> jax.Array:
    B, T, H, K = q_BxTxHxK.shape
    S = k_BxSxHxK.shape[1]
    q = (q_BxTxHxK * jnp.asarray(K ** -0.5, q_BxTxHxK.dtype)).transpose(0, 2, 1, 3)
    k, v = (t.transpose(0, 2, 1, 3) for t in (k_BxSxHxK, v_BxSxHxK))
    kernel = _kernel(H, T, S, causal, interpret)
    y_BxHxTxK = jax.vmap(kernel)(q, k, v)
    return y_BxHxTxK.astype(q_BxTxHxK.dtype).transpose(0, 2, 1, 3)


def attend_splash(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, causal: bool, *,
                  interpret: bool = False) -> jax.Array:
    """Softmax attention by the splash kernel; per device under the run's (data, fsdp) mesh."""
    fn = functools.partial(_local, causal=causal, interpret=interpret)
    mesh = jax.sharding.get_abstract_mesh()
    axes = tuple(a for a in ("data", "fsdp") if not mesh.empty and a in mesh.axis_names)
    if not axes or all(mesh.shape[a] == 1 for a in axes):
        return fn(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK)
    spec = P(axes)  # the batch's layout (scaling/train/sharding.py AXES)
    return jax.shard_map(fn, in_specs=(spec, spec, spec), out_specs=spec,
                         check_vma=False)(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK)
