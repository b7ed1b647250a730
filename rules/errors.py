"""The one base class of errors the user can fix.

An error of this kind is the user's to fix (a bad file, a wrong option, a typo in a policy file):
the command line prints its message as one line and exits with status 2, never a traceback. Every
domain error that means "you gave me something I cannot use" subclasses :class:`UserError`; an error
that means "doisoat is broken" must not, so its traceback still reaches the developers.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user gave (file, option, configuration) cannot be used; the message says what to do.

    The message is one line, names the file, row, column or key it is about, and never carries a
    personal value (name, ID, date of birth).
    """


class MissingInputError(UserError, FileNotFoundError):
    """A file or folder the user gives (or an earlier step writes) is not there; the message names it
    and says what to run or where to put it. Still a ``FileNotFoundError`` for callers that catch that."""


class OptionError(UserError, ValueError):
    """A value typed on the command line (a date, a province, a sector) is unusable; still a
    ``ValueError`` for callers that catch that."""
