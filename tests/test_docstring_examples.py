"""Every example in idbench's docstrings runs and prints what it shows (the docs name the functions
that run; an example that no longer holds fails here)."""

import doctest
import importlib
import pkgutil

import pytest

import idbench

MODULES = sorted(m.name for m in pkgutil.walk_packages(idbench.__path__, "idbench."))


def test_the_package_has_modules_to_check():
    assert len(MODULES) > 50 and "idbench.metrics.retrieval" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples in {name} failed (output above)"
