"""The root of the errors an operator can fix.

The command line reports any of them as one line and an exit code, without a traceback, so a
new operator-facing error only has to subclass `ScholarflowError` to be reported that way.
"""

from __future__ import annotations

from typing import ClassVar


class ScholarflowError(Exception):
    """An error the operator can fix: its message is the one line the CLI prints.

    `prefix` is printed before the message where the class alone says what failed; `exit_code`
    lets scripts tell one kind of failure from another.
    """

    prefix: ClassVar[str] = ""
    exit_code: ClassVar[int] = 1
