"""tickwork benchmarks: `scripts/bench [NAME ...]` prints one `name value unit` line per figure."""
