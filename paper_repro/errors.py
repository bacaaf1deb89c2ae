"""Errors the command line reports as one line, without a traceback."""


class UserError(Exception):
    """An error whose message is the whole story for the user."""
