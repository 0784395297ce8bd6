"""Readers for published benchmark layouts, one module each; see :mod:`idbench.data.layout`."""
