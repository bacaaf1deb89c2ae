"""Figures: one module per figure, each a pure ``DataFrame -> Figure`` function."""
