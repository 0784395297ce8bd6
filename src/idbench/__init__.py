"""idbench: identity-preservation evaluation for personalized image generators."""

__version__ = "0.1.0"
