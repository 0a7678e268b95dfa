"""runstore: what runs write and analyses read, below both `scaling` and `analysis`.

Standard library only (PyYAML for the loader), no import side effects; it imports neither
package. It owns the run and sweep folder layout (`RunDir`, `SweepDir`), the run record
(`RunSummary`) and metrics rows with one reader and one writer each, atomic writes, the claim
lock, the one error type with its CLI policy, the YAML loader, and units (PF-day, 6ND, the
Chinchilla allocation) with the number formatter.
"""
from runstore.errors import InputError, cli_main
from runstore.files import (
                            JsonlAppender,
                            atomic_path,
                            atomic_write_json,
                            atomic_write_text,
                            fsync_path,
                            read_json,
                            read_jsonl,
                            write_jsonl,
)
from runstore.layout import RunDir, SweepDir, cache_dir
from runstore.summary import (
                            SCHEMA_VERSION,
                            RunSummary,
                            read_metrics,
                            read_summary,
                            write_summary,
)
from runstore.units import (
                            PF_DAY,
                            chinchilla_allocation,
                            finite_float,
                            finite_number,
                            flops_6nd,
                            fmt_si,
                            params_for_flops,
                            tokens_for_flops,
)
from runstore.yamlio import load_yaml_text, parse_override

__all__ = ["InputError", "cli_main", "JsonlAppender", "atomic_path", "atomic_write_json",
           "atomic_write_text", "fsync_path", "read_json", "read_jsonl", "write_jsonl", "RunDir",
           "SweepDir", "cache_dir", "SCHEMA_VERSION", "RunSummary", "read_metrics", "read_summary",
           "write_summary", "PF_DAY", "chinchilla_allocation", "finite_float", "finite_number",
           "flops_6nd", "fmt_si", "params_for_flops", "tokens_for_flops", "load_yaml_text",
           "parse_override"]
