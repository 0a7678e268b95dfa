"""The suite's benchmarks: scripts, run from the repository root as modules.

    python -m benchmarks.step_throughput [--torch]   # the train step beside the peers
    python -m benchmarks.step_profile --config A     # where the step's time goes, per kind of op
    python -m benchmarks.step_variants --config A    # variants of the step, interleaved
    python -m benchmarks.fit_speed                   # the approach-3 fit against scipy
    python -m benchmarks.data_throughput             # token-cache builds
    python -m benchmarks.accumulation_drift          # gradient accumulation over a whole run
    python -m benchmarks.gpu_check                   # the accelerator options, on one GPU

Every benchmark of the train step builds it through `benchmarks.suite_step.build` (the suite's
own builder) on the shapes of `benchmarks.shapes`. Importing this package imports nothing, so a
benchmark can run `import scaling` (the malloc fix) before anything allocates. Results and how
to read them: docs/performance.md.
"""
