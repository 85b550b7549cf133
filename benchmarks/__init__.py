"""Benchmarks: each compares mailsink with a baseline run in the same run."""
