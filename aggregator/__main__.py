"""Allows ``python -m aggregator`` as well as the ``aggregator`` console script."""

from aggregator.cli import main

if __name__ == "__main__":
    main()
