"""The one compiled module: the run-time n-gram look-up (`sentiment/_ngram_index.c`); the rest is in pyproject.toml."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("sentiment._ngram_index", ["sentiment/_ngram_index.c"], extra_compile_args=["-O2"])])
