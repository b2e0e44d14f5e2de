"""palt: Partially-Annotated, Long-Tailed multi-label learning in PyTorch.

The package is split by concern (see ``docs/architecture.md``):
``labels`` and ``metrics`` know nothing of training, ``losses`` know nothing of data files,
``methods`` wrap losses with the hooks the engine calls, ``data`` builds benchmarks,
``engine`` trains, ``report`` compares.
"""

__version__ = "0.1.0"
