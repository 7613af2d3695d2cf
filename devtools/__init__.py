"""Helpers shared by the tests and the benchmarks (not part of the app): real network
namespaces (``netlab``). Run from the repository root so ``devtools`` is importable."""
