"""The memory calculator's terms against hand computation, and the seed notes' 1B figures."""
import pytest

from runstore import InputError
from scaling.budget.memory import (
    WORKSPACE_FACTOR,
    activation_elements,
    fits,
    fmt_bytes,
    hold_memory,
    rule_of_thumb_training_memory,
    training_memory,
)
from scaling.model.config import ModelConfig
from scaling.model.shapes import ShapeRule

SMALL = ModelConfig(d_model=64, n_layers=2, n_heads=4, vocab_size=100, seq_len=16)


def test_small_config_param_count_by_hand():
    d, f, V, T = 64, 256, 100, 16
    ln = 2 * d
    block = 2 * ln + (4 * d * d + 4 * d) + (2 * d * f + f + d)
    assert SMALL.n_params_total() == V * d + T * d + 2 * block + ln == 107520


def test_fp32_terms_by_hand():
    n, B, L, d, f, H, T, V = 107520, 3, 2, 64, 256, 4, 16, 100
    m = training_memory(SMALL, B, "float32")
    assert (m.weights, m.master_weights, m.gradients, m.optimizer) == (4 * n, 0, 4 * n, 8 * n)
    width_d = B * L * 8 * T * d          # 8 saved width-d tensors per layer
    mlp = B * L * 2 * T * f              # GELU: pre- and post-activation
    scores = B * L * H * T * T           # softmax probabilities
    final_norm = B * 2 * T * d
    logits = B * T * V
    assert m.activations == 4 * (width_d + mlp + scores + final_norm + logits)
    assert m.workspace == int(WORKSPACE_FACTOR * m.activations)
    assert m.total == 16 * n + m.activations + m.workspace
    assert m.bytes_per_param == 16
    assert m.rows()[-1] == ("total", m.total)


def test_bf16_mixed_terms():
    n = SMALL.n_params_total()
    m32 = training_memory(SMALL, 2, "float32")
    m16 = training_memory(SMALL, 2, "bf16")
    assert m16.precision == "bfloat16"
    assert (m16.weights, m16.master_weights, m16.gradients, m16.optimizer) == (
        2 * n, 4 * n, 2 * n, 8 * n)
    assert m16.activations * 2 == m32.activations  # 2 bytes per activation element
    labels = [k for k, _ in m16.rows()]
    assert any("master" in k for k in labels)


def test_swiglu_saves_three_hidden_tensors():
    g = activation_elements(SMALL, 1)
    s = activation_elements(SMALL.replace(mlp="swiglu"), 1)
    key_g = next(k for k in g if k.startswith("MLP"))
    key_s = next(k for k in s if k.startswith("MLP"))
    assert s[key_s] * 2 == g[key_g] * 3


def test_encoder_decoder_counts_both_stacks():
    ed = SMALL.replace(arch="encoder_decoder", dec_seq_len=8)
    assert training_memory(ed, 1, "float32").activations > training_memory(SMALL, 1).activations


def test_hold_memory_per_precision():
    assert hold_memory(1e9, "float32") == 4e9
    assert hold_memory(1e9, "bf16") == 2e9
    assert hold_memory(1e9, "fp16") == 2e9
    assert hold_memory(1e9, "int8") == 1e9
    with pytest.raises(InputError):
        hold_memory(1e9, "fp8")


def test_one_billion_seed_notes():
    """1B parameters: 4 GB to hold at fp32, about 80 GB to train by the rule of thumb."""
    assert fmt_bytes(hold_memory(1e9)) == "4.0 GB"
    assert rule_of_thumb_training_memory(1e9) == pytest.approx(80e9)
    cfg = ShapeRule().for_params(1e9, ModelConfig(vocab_size=32000, seq_len=2048))
    m = training_memory(cfg, 1, "float32")
    assert m.n_params == pytest.approx(1e9, rel=0.05)
    assert m.states == pytest.approx(16e9, rel=0.05)  # 4 + 4 + 8 bytes per parameter
    assert m.activations > 0


def test_int8_is_hold_only():
    with pytest.raises(InputError):
        training_memory(SMALL, 1, "int8")


def test_fits_with_reason():
    ok, why = fits(SMALL, 1, "float32", 1e9)
    assert ok and why.startswith("fits")
    ok, why = fits(SMALL, 1, "float32", 1e5)
    assert not ok and "does not fit" in why and "float32" in why
    need = training_memory(SMALL, 1, "float32")
    ok_sharded, _ = fits(SMALL, 1, "float32",
                         need.states / 4 + need.activations + need.workspace + 1, 4,
                         sharded=True)
    assert ok_sharded and not fits(SMALL, 1, "float32", need.total - 1)[0]


def test_microbatches_remat_and_fsdp_terms():
    n = SMALL.n_params_total()
    full = training_memory(SMALL, 8, "float32")
    acc = training_memory(SMALL, 8, "float32", microbatches=4)
    assert acc.activations == training_memory(SMALL, 2, "float32").activations
    assert acc.accumulator == 4 * n and acc.total < full.total
    block = training_memory(SMALL, 8, "float32", remat="block")
    dots = training_memory(SMALL, 8, "float32", remat="dots")
    assert block.activations < dots.activations < full.activations
    sharded = training_memory(SMALL, 8, "float32", shards=8)
    assert full.total - sharded.total == full.states - full.states // 8
    assert any("sharded over 8" in label for label, _ in sharded.rows())


def test_attention_in_a_kernel_counts_two_more_copies_of_the_logits_as_workspace():
    """The accelerator compilers' measured workspace with flash attention (memory.py)."""
    from scaling.budget.memory import FLASH_LOGITS_WORKSPACE, LOGITS
    m = training_memory(SMALL, 3, "bfloat16", flash=True)
    logits = dict(m.activation_terms)[LOGITS]
    assert logits == 2 * 3 * 16 * 100  # bf16 B x T x V
    assert m.workspace == int(FLASH_LOGITS_WORKSPACE * logits) == 2 * logits
    assert any("2 x the logits" in k for k, _ in m.rows())
    assert training_memory(SMALL, 3, "bfloat16").workspace == int(
        WORKSPACE_FACTOR * training_memory(SMALL, 3, "bfloat16").activations)


def test_xla_gpu_remat_limit_matches_the_limits_xla_logged_for_gpu_chinchilla():
    """XLA:GPU logged "HloRematerialization() with memory limit of 60.12GiB" (d320, states 224 MB
    in) to 60.35GiB (d1152, 5.04 GB in) for the H100 config's 84,929,347,584 bytes."""
    from scaling.budget.memory import xla_gpu_remat_limit

    M = 84929347584
    logged = {224437768: 60.12, 1324284168: 60.17, 2055872392: 60.21, 3032774088: 60.25,
              5040886152: 60.35}
    for io, gib in logged.items():
        assert abs(xla_gpu_remat_limit(M, io) / 2**30 - gib) < 0.006  # XLA prints 2 decimals
