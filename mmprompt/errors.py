# Copyright (c) mmprompt contributors. All rights reserved.
"""The errors mmprompt raises for user mistakes.

Every error that a user can fix (a wrong path, config field, checkpoint or
data file) is an :class:`MMPromptError`. Its message says what is wrong,
names the offending path, field or value, and says how to fix it. The
command-line tools print such errors as one short paragraph without a
traceback (``--debug`` shows it); any other exception is a bug and keeps its
traceback.

Each subclass also derives from the built-in exception that code catching
errors would expect (``ValueError``, ``FileNotFoundError``, ...), so
``except ValueError`` keeps working.
"""

__all__ = [
    'MMPromptError', 'ConfigError', 'DataError', 'CheckpointError',
    'WeightsError', 'PathNotFoundError', 'WorkDirLockedError'
]


class MMPromptError(Exception):
    """Base of the errors for user mistakes; tools print them briefly."""


class ConfigError(MMPromptError, ValueError):
    """A config field or command-line option has a wrong value."""


class DataError(MMPromptError, ValueError):
    """A dataset, split file or image is wrong or unreadable."""


class CheckpointError(MMPromptError, ValueError):
    """A checkpoint does not fit the model or run it is given to."""


class WeightsError(MMPromptError, ValueError):
    """A pretrained-weights file cannot be loaded into the CLIP model."""


class PathNotFoundError(MMPromptError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class WorkDirLockedError(MMPromptError, RuntimeError):
    """Another run holds the work directory."""
