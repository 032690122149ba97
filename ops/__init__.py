"""Operator tools: preflight checks, compliance report, benchmarks."""
