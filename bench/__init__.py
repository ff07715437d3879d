"""Benchmarks on real and generated data; each module writes its own section of `docs/benchmarks.md`."""
