"""Errors a user sees as one line (file, row or key, field, problem), never as a traceback."""

from __future__ import annotations


class BhpolicyError(Exception):
    """An error caused by input, data or a lookup; the CLI prints it as one line."""

    exit_code = 2


class DataFileError(BhpolicyError):
    """A data file (policy pack, catalog entry, code file) is malformed.

    The message names the file, the place in it (key path or line) and the problem.
    """

    def __init__(self, path: str, where: str, problem: str) -> None:
        self.path = path
        self.where = where
        self.problem = problem
        super().__init__(f"{path}: {where}: {problem}")


class NotFoundError(BhpolicyError):
    """A code, policy or parameter that the user named does not exist."""
