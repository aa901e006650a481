"""Exceptions with a location, so that bad input is reported as ``file:line: message``."""

from __future__ import annotations

from pathlib import Path


class GradedprError(Exception):
    """Base class for every error gradedpr raises on purpose."""


class DataError(GradedprError, ValueError):
    """Bad input data. Names the file and (1-based) line when they are known."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(f"{where}{message}")


class ConfigError(GradedprError, ValueError):
    """A setting with a value gradedpr cannot use; the message names the setting and what is allowed."""


class CheckpointError(GradedprError):
    """A checkpoint or index directory that cannot be loaded, or does not match what it is used with."""


class OutputError(GradedprError):
    """An output path gradedpr will not write: it holds files gradedpr did not write, or it already holds an
    output of gradedpr's that would be replaced without ``overwrite=true``."""


class DistributedError(GradedprError):
    """A multi-process training step that cannot go on: another process died, or did not reach a collective
    operation within the configured timeout."""


class StudyRunError(GradedprError):
    """Study runs that ended with an error; the message names them and the first one's last log line."""
