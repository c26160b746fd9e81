"""Compatibility module: the named types under their former import path.

The types live in :mod:`acytoo._types` (a module named ``typing`` inside the
package shares the standard library's name). ``from acytoo.typing import
Messages`` keeps working; new code imports them from ``acytoo`` itself.
"""

from __future__ import annotations

from ._types import AsyncResult, CreateResult, Message, Messages, Role

__all__ = ["AsyncResult", "CreateResult", "Message", "Messages", "Role"]
