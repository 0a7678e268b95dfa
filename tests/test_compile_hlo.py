"""Reading the compiler's rematerialization from optimized HLO text (scaling/compile/hlo.py): a
fragment in the form XLA:GPU printed for gpu_chinchilla's d704 step (jax 0.10.2's plugin),
where it recomputed the MLP's up-projection GEMM of 9 layers, two scalars and nothing else."""
from scaling.compile import hlo

FRAGMENT = """HloModule jit_train_step, is_scheduled=true

%gemm_fusion_dot.2_computation.1 (parameter_0.135: bf16[131072,704], parameter_1.135: bf16[704,5632]) -> bf16[131072,5632] {
  %parameter_0.135 = bf16[131072,704]{1,0} parameter(0), metadata={scheduling_name="parameter_0.2"}
  %parameter_1.135 = bf16[704,5632]{1,0} parameter(1), metadata={scheduling_name="parameter_1.2"}
  ROOT %dot.403 = bf16[131072,5632]{1,0} dot(%parameter_0.135, %parameter_1.135), lhs_contracting_dims={1}, rhs_contracting_dims={0}, metadata={op_name="jit(train_step)/jvp()/dot_general"}
}

%fused_subtract.1 (param_0.1: f32[]) -> f32[] {
  %param_0.1 = f32[] parameter(0)
  ROOT %subtract.1 = f32[] subtract(%param_0.1, %param_0.1)
}

%region_0.1 (p: (f32[], bf16[8,16]{1,0})) -> (f32[], bf16[8,16]) {
  %p = (f32[], bf16[8,16]{1,0}) parameter(0)
  ROOT %t = (f32[], bf16[8,16]{1,0}) tuple(%p)
}

ENTRY %main.224 (x: bf16[131072,704], w: bf16[704,5632], s: f32[]) -> bf16[131072,5632] {
  %x = bf16[131072,704]{1,0} parameter(0)
  %w = bf16[704,5632]{1,0} parameter(1)
  %s = f32[] parameter(2)
  %gemm_fusion_dot.2 = bf16[131072,5632]{1,0} fusion(%x, %w), kind=kCustom, calls=%gemm_fusion_dot.2_computation.1
  %gemm_fusion_dot.2.remat = bf16[131072,5632]{1,0} fusion(%x, %w), kind=kCustom, calls=%gemm_fusion_dot.2_computation.1, metadata={op_name="jit(train_step)/jvp()/dot_general"}
  %loop_subtract_fusion.remat2 = f32[] fusion(%s), kind=kLoop, calls=%fused_subtract.1
  %small.remat = bf16[64,32]{1,0} dot(%x, %w), lhs_contracting_dims={0}, rhs_contracting_dims={0}
  %tuple.177 = (f32[256,704]{1,0}, bf16[128,1024,704]{2,1,0}) tuple(%s, %x)
  ROOT %copy = bf16[131072,5632]{1,0} copy(%gemm_fusion_dot.2)
}
"""


def test_an_instruction_line_splits_into_its_parts_tuples_included():
    name, shape, op, operands, attrs = hlo.instruction(
        "  %tuple.177 = (f32[256,704]{1,0}, bf16[128,1024,704]{2,1,0}) tuple(%s, %x)")
    assert (name, op, operands) == ("tuple.177", "tuple", ["s", "x"])
    assert shape.startswith("(f32[256,704]") and shape.endswith(")")
    assert hlo.instruction("}") is None and hlo.instruction("HloModule m") is None


def test_the_recomputed_gemm_is_priced_at_two_m_n_k_and_scalars_at_nothing():
    r = hlo.rematerialized(FRAGMENT)
    assert r["ops"] == 3  # the GEMM fusion, the scalar fusion, the bare dot; not the original
    gemm = 2 * 131072 * 704 * 5632
    bare = 2 * 64 * 32 * 131072  # contracting the lhs's dimension 0 (131072)
    assert r["flops"] == gemm + bare
    assert r["bytes"] == 131072 * 5632 * 2 + 4 + 64 * 32 * 2


def test_a_module_without_recomputation_reads_zero():
    text = FRAGMENT.replace(".remat2", "").replace(".remat", "_kept")
    assert hlo.rematerialized(text) == {"ops": 0, "flops": 0.0, "bytes": 0}


def test_every_computation_and_instruction_is_read():
    comps = hlo.parse(FRAGMENT)
    assert set(comps) == {"gemm_fusion_dot.2_computation.1", "fused_subtract.1", "region_0.1",
                          "main.224"}
    assert len(comps["main.224"]) == 9
