"""Metric functions: pure (arrays in, numbers out), no I/O. One definition of each metric."""
