"""The performance benchmark of govkz-feeds: ``python -m benchmarks [--items N] [--quick]``.

See :mod:`benchmarks.cli` for what it measures and ``benchmarks/README.md`` for the targets.
"""
