"""model.scan_layers: the blocks stacked and applied with one scan train the same model as the
unrolled stack (same init, same steps: losses within 1e-6 over 50 steps on CPU), with remat per
scanned block, weight decay still on matrices only, and a different run identity (a run folder
of the other layout refuses it rather than restoring a tree of another shape)."""
import jax
import pytest
from stepping import losses, tiny_record

from scaling.model.transformer import build_model, count_params
from scaling.train.step import _decays, split_model


@pytest.mark.parametrize("objective,over", [("clm", {}),
                                            pytest.param("span", {}, marks=pytest.mark.long),
                                            ("clm", {"model.remat": "block"})],
                         ids=["clm", "span", "clm-remat"])
def test_scanned_losses_equal_the_unrolled_over_50_steps(objective, over):
    steps = 50 if objective == "clm" and not over else 10
    base = losses(objective, steps=steps, **over)
    scan = losses(objective, steps=steps, **{"model.scan_layers": True, **over})
    assert max(abs(a - b) for a, b in zip(base, scan)) < 1e-6, (base[-1], scan[-1])
    assert base[-1] < base[0]  # it trains: the comparison is not of two constants


def test_stacked_parameters_and_decay_mask():
    rec, _ = tiny_record("clm", **{"model.scan_layers": True})
    model = build_model(rec.model, 0)
    _, params = split_model(model)
    unrolled = build_model(rec.model.replace(scan_layers=False), 0)
    assert count_params(model) == count_params(unrolled) == rec.model.n_params_total()
    shapes = {jax.tree_util.keystr(k): v.shape
              for k, v in jax.tree_util.tree_leaves_with_path(params)}
    kernel = [s for k, s in shapes.items() if "stacked" in k and "qkv" in k and "kernel" in k]
    assert kernel == [(rec.model.n_layers, rec.model.d_model, 3 * rec.model.d_model)]
    decayed = {jax.tree_util.keystr(k) for k, v in jax.tree_util.tree_leaves_with_path(params)
               if _decays(k, v)}
    _, flat = split_model(unrolled)
    decayed_unrolled = [k for k, v in jax.tree_util.tree_leaves_with_path(flat) if _decays(k, v)]
    # the same matrices decay: each stacked one stands for n_layers unrolled ones
    assert len(decayed_unrolled) == sum(rec.model.n_layers if "stacked" in k else 1
                                        for k in decayed)
    assert not any("bias" in k or "norm" in k for k in decayed)


def test_scan_layers_is_part_of_the_run_identity_only_when_on():
    off, _ = tiny_record("clm")
    on, _ = tiny_record("clm", **{"model.scan_layers": True})
    assert "scan_layers" not in off.cfg.identity()["model"]  # earlier run ids unchanged
    assert on.cfg.short_hash() != off.cfg.short_hash()
