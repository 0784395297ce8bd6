"""Protocols: load-free orchestration of encoders and metrics over records, filling a Results."""
