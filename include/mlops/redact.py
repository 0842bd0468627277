"""Credentials out of everything the product writes: artifacts, tags, logs and error messages.

A dataset config may hold a database URL with a password (``source.options.url`` of the
sql source), a tracking URI may carry a user and password, and a driver's error message
may repeat the URL it failed on. Everything that leaves the process goes through one of:

- :func:`redact_text`: any string (a URL, a message): the password of every
  ``scheme://user:password@host`` becomes ``***``, and so does the value of every
  credential-like query or keyword parameter (``password=``, ``token=``, ``secret=``, …);
- :func:`redact_config`: a JSON-able structure (a dumped dataset config): values under
  credential-like keys become ``***`` and every string goes through :func:`redact_text`.

The user name, host, port and database stay readable, so a redacted URL still says where.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

#: Names of keys and parameters whose values are secrets.
SECRET_NAMES = r"(?:password|passwd|pwd|pass|secret|client_secret|token|access_token|refresh_token|api_key|apikey|access_key|secret_key|private_key|sas_token|credentials?)"

# scheme://user:password@  (the password may hold anything but '@', '/' and blanks; the last
# '@' before the host ends it, as in SQLAlchemy's and urllib's parsers)
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s'\"]*:)(?P<secret>[^/\s'\"]*)@(?=[^@/\s'\"]*(?:[/\s'\"?#]|$))")
# password=...  as a query parameter or a keyword in a DSN or message (up to '&', ';', a blank or a quote)
_PARAM = re.compile(r"(?P<head>(?<![A-Za-z0-9_])" + SECRET_NAMES + r"\s*=\s*)(?P<secret>[^&;\s'\",)]+)", re.IGNORECASE)
_SECRET_KEY = re.compile(r"^" + SECRET_NAMES + r"$|_(?:password|passwd|secret|token|api_key|access_key|secret_key|private_key)$", re.IGNORECASE)


def redact_text(text: str) -> str:
    """``text`` with the passwords of URLs and the values of credential parameters masked."""
    if not isinstance(text, str) or not text:
        return text
    text = _USERINFO.sub(lambda m: m.group("head") + (MASK if m.group("secret") else "") + "@", text)
    return _PARAM.sub(lambda m: m.group("head") + MASK, text)


def redact_config(value: Any) -> Any:
    """A copy of a JSON-able structure fit to store: secrets under credential-like keys and in URLs masked."""
    if isinstance(value, Mapping):
        return {k: (MASK if _SECRET_KEY.search(str(k)) and v not in (None, "") else redact_config(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_config(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redacted_error(exc: BaseException) -> str:
    """``TypeName: message`` of an exception, redacted (for error messages that quote a driver's)."""
    return redact_text(f"{type(exc).__name__}: {exc}")
