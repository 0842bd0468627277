"""What "nothing phones home" means for served HTML, shared by the unit and live tests."""

from __future__ import annotations

import re

LOCAL = r"(?:127\.0\.0\.1|localhost)(?=[:/\"'\s]|$)"


def external_urls(html: str) -> list[str]:
    """URLs in ``html`` that point anywhere but this machine (XML namespace names aside):
    absolute ``http(s)://`` ones anywhere in the text, protocol-relative ``//host`` ones in
    attributes and CSS."""
    html = re.sub(r"""\sxmlns(?::\w+)?\s*=\s*["'][^"']*["']""", "", html)
    found = re.findall(rf"https?://(?!{LOCAL})[^\s\"'<>)]+", html, re.I)
    found += re.findall(r"""(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*//[^\s"'<>]+""", html, re.I)
    found += re.findall(r"""url\(\s*["']?\s*//[^)]*\)""", html, re.I)
    return found
