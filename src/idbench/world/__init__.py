"""A synthetic identity world with known truth: category > subclass > instance, matched-context
distractors, and simulated personalization methods with known identity drift."""

from idbench.world.make import DEFAULT_METHODS, MethodSpec, WorldSpec, make_world, method_truth, simulate_methods

__all__ = ["DEFAULT_METHODS", "MethodSpec", "WorldSpec", "make_world", "method_truth", "simulate_methods"]
