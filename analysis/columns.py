"""The RunTable's column names, the CSV aliases of each, and the keys a done run must have:
the names every reader of runs (table, CSV, grouping) agrees on."""

#: summary.json keys a done run must have (the rest are optional).
REQUIRED_KEYS = ("n_params_total", "tokens", "final_eval_loss")

#: Column names of a RunTable, in order.
COLUMNS = (
    "run_id", "objective", "tokenizer", "n_total", "n_nonembedding", "tokens", "flops",
    "loss", "bpb", "status", "epochs", "seed", "bytes_per_token",
)
STR_COLUMNS = {"run_id", "objective", "tokenizer", "status"}


# ---- CSV -------------------------------------------------------------------------------
ALIASES = {
    "n_total": ("N", "n_params", "n_params_total", "n_total", "params", "parameters"),
    "n_nonembedding": ("n_params_nonembedding", "n_nonembedding"),
    "tokens": ("D", "tokens", "n_tokens"),
    "flops": ("C", "flops", "flops_6nd", "compute"),
    "loss": ("loss", "final_eval_loss", "L"),
    "bpb": ("bpb", "final_eval_bpb"),
    "run_id": ("run_id", "id", "name"),
    "objective": ("objective",),
    "tokenizer": ("tokenizer",),
    "seed": ("seed",),
    "epochs": ("epochs",),
    "bytes_per_token": ("bytes_per_token",),
}
