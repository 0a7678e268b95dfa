import itertools

import pytest

from scaling.model.config import ModelConfig
from scaling.model.transformer import build_model, count_params

GPT2_SMALL = ModelConfig(vocab_size=50257, seq_len=1024, d_model=768, n_layers=12, n_heads=12)


def test_gpt2_small_published_count():
    # Radford et al. 2019 / HF gpt2: 124,439,808 parameters (tied head, learned positions)
    assert GPT2_SMALL.n_params_total() == 124_439_808
    assert GPT2_SMALL.n_params_nonembedding() == 124_439_808 - 50257 * 768 - 1024 * 768


def test_hand_count_small_decoder():
    c = ModelConfig(vocab_size=100, seq_len=16, d_model=8, n_layers=1, n_heads=2)
    block = (2 * 8 * 2          # two layernorms, scale + bias
             + 8 * 24 + 24       # qkv
             + 8 * 8 + 8         # attention out
             + 8 * 32 + 32       # mlp up
             + 32 * 8 + 8)       # mlp down
    assert c.n_params_nonembedding() == block + 16  # + final layernorm
    assert c.n_params_embedding() == 100 * 8 + 16 * 8


@pytest.mark.parametrize("arch,norm,bias,pos,mlp,tie", list(itertools.product(
    ["decoder", "encoder", "encoder_decoder"], ["layernorm", "rmsnorm"], [True, False],
    ["learned", "rope"], ["gelu", "swiglu"], [True, False]))[::5])
def test_counts_match_built_model(arch, norm, bias, pos, mlp, tie):
    c = ModelConfig(arch=arch, vocab_size=97, seq_len=12, dec_seq_len=5, d_model=16,
                    n_layers=2, n_heads=2, norm=norm, bias=bias, pos=pos, mlp=mlp,
                    tie_embeddings=tie)
    assert count_params(build_model(c, 0)) == c.n_params_total()


def test_flops_hand_count():
    # 6 x non-embedding + 6 d V (tied head) + 12 L d T (attention, full): the peers' formula
    c = ModelConfig(vocab_size=256, seq_len=256, d_model=128, n_layers=4, n_heads=4)
    N = c.n_params_nonembedding()
    assert c.flops_per_token() == 6 * N + 6 * 128 * 256 + 12 * 4 * 128 * 256
    # peers' config A: 0.86M parameters
    assert c.n_params_total() == pytest.approx(0.86e6, rel=0.01)


def test_encoder_decoder_flops_split():
    c = ModelConfig(arch="encoder_decoder", vocab_size=256, seq_len=128, dec_seq_len=29,
                    d_model=64, n_layers=2, n_heads=2)
    enc, dec = c.stream_flops()
    assert c.flops_per_token() == pytest.approx(enc + dec * 29 / 128)
    # every parameter is used once per token of its stream: matmul part is 6 x params
    assert enc + dec > 6 * c.n_params_nonembedding()


def test_invalid_shape_names_key():
    from runstore import InputError
    from scaling.configio import from_dict
    with pytest.raises(InputError) as e:
        from_dict(ModelConfig, {"d_model": 30, "n_heads": 4})
    assert e.value.key == "n_heads"
