"""Subcommands of the ``palt`` command line (one module each)."""
