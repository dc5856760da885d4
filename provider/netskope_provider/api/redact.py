"""Keeping the API token out of every text the client produces.

A server or proxy may echo the token back in an error body in any encoding it likes, so the
client redacts not only the token but each form it could take there: URL-encoded (either hex
case, ``+`` for space), JSON-escaped, and base64 (standard and URL-safe) at each of the three
alignments it can have inside a longer encoded text.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from urllib.parse import quote, quote_plus

from netskope_provider.exceptions import NetskopeConfigError

REDACTED = "***"
#: Shorter encoded fragments could match ordinary text; a token is far longer than this.
_MIN_FORM_CHARS = 6
_PERCENT_HEX = re.compile(r"%[0-9A-F]{2}")


def check_token(token: str, source: str) -> None:
    """Refuse a token that cannot be sent as a header as it is, without ever printing it."""
    for position, char in enumerate(token, 1):
        if char in "\r\n":
            what = "a line break (CR or LF)"
        elif unicodedata.category(char) == "Cc":
            what = f"the control character U+{ord(char):04X}"
        elif char.isspace():
            what = "whitespace"
        elif not char.isascii():
            what = "a character that is not ASCII"
        else:
            continue
        raise NetskopeConfigError(
            f"The API token from {source} contains {what} at position {position} of {len(token)}: Netskope tokens "
            "are printable ASCII. Paste the token again (without the line break or stray characters it picked "
            "up) and store it in the same place."
        )


def token_forms(token: str) -> tuple[str, ...]:
    """Every text form of ``token`` worth redacting, longest first (so no form is half-replaced)."""
    forms = {token, json.dumps(token)[1:-1], json.dumps(token, ensure_ascii=False)[1:-1]}
    forms.add(json.dumps(token)[1:-1].replace("/", "\\/"))
    for encoded in (quote(token, safe=""), quote_plus(token, safe=""), quote(token)):
        forms.update((encoded, _PERCENT_HEX.sub(lambda hexed: hexed.group().lower(), encoded)))
    data = token.encode("utf-8", "surrogatepass")
    for skip in range(3):  # the token's first byte may sit at any of the 3 positions of a base64 group
        whole_groups = data[skip : skip + (len(data) - skip) // 3 * 3]
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.add(encode(whole_groups).decode("ascii"))
    forms = {form for form in forms if len(form) >= _MIN_FORM_CHARS} | {token}
    return tuple(sorted(forms, key=len, reverse=True))


def redact(text: str, forms: tuple[str, ...]) -> str:
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    return text
