"""Subcommands of ``robust-gates``: one module each (``NAME``, ``HELP``, ``configure``, ``run``)."""
