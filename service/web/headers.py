"""Security headers on every response: the pages are HTML a browser runs, and
on JSON they cost nothing.

The policy matches what the pages do: every script is a file under /ui/static
(no inline script, no event-handler attribute, no eval; `<script
type="application/json">` data blocks are not run, so the policy leaves them
alone), and the charts fetch /ui/api on the same origin. Styles allow
'unsafe-inline' because Plotly injects a <style> element and style attributes
while it draws (tried: 'self' alone, and with style-src-attr only, both fail
in Chromium); a style cannot run code, and scripts stay 'self' only.
"""

from __future__ import annotations

from flask import Response

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
