"""Benchmark operations: each module has run(ctx) -> list[bench.core.Measurement]."""
