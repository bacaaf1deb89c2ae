"""Outermost layer: the ``robust-gates`` command line, the report and the neural experiments."""
