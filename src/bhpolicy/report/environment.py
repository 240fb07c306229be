"""The one Jinja environment every bhpolicy page is rendered with, and the page's CSP.

Every HTML renderer (the determination worksheet, the billing and audit reports, and the
pages of any later web app) gets its environment from :func:`make_environment` and turns a
template into a page with :func:`render_page`. That gives each page, whatever its loader:

* **Escaping on by default.** Everything a template prints is HTML-escaped unless the
  template is plain text by name (``*.txt.j2``, ``*.txt``; see :func:`escapes`). The check
  looks at the name *without* its ``.j2``/``.jinja``/``.jinja2`` suffix, so ``page.html.j2``
  escapes (Jinja's ``select_autoescape(["html"])`` tests only the last suffix and does
  not), and so does a template of any other or no name (``from_string``).
* **No way to unescape from a template.** The ``safe`` filter is removed, so ``|safe`` is
  an error when the template is compiled. Markup that is ours (never built from input) can
  still be passed in as :class:`markupsafe.Markup` from Python, where a reviewer sees it.
* **StrictUndefined**: a misspelt name is an error, not an empty string.
* **A Content-Security-Policy** (:func:`render_page`): the first element of ``<head>`` is a
  ``<meta http-equiv="Content-Security-Policy">`` that allows only the ``<style>`` and
  ``<script>`` blocks the page itself ships, by their SHA-256, and nothing else: no other
  inline script or style, no inline event handlers (``onclick=``), no ``style=``
  attributes, no ``javascript:`` URLs, no loads from anywhere but ``data:`` images. A
  server can send the same policy as a header (:func:`content_security_policy`).

A web app reuses the same factory with its own templates, e.g.
``make_environment(PackageLoader("bhpolicy", "web/templates"))`` or a ``ChoiceLoader`` that
also holds :data:`REPORT_LOADER`, and renders each response with ``render_page``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from typing import Any

from jinja2 import BaseLoader, Environment, PackageLoader, StrictUndefined

#: The packaged report templates (``src/bhpolicy/report/templates``).
REPORT_LOADER = PackageLoader("bhpolicy", "report/templates")

_TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2")
_TEXT_SUFFIXES = (".txt", ".text")

# The page's own blocks. Every value a template prints is escaped (``<`` becomes ``&lt;``),
# so an element start tag in a rendered page was written by a template, never by input.
_BLOCK = re.compile(r"<(style|script)\b([^>]*)>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_HEAD = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)


def escapes(template_name: str | None) -> bool:
    """Whether a template's output is HTML-escaped: yes unless its name, without a
    template suffix, ends in ``.txt`` or ``.text``. A template without a name escapes."""
    if template_name is None:
        return True
    name = template_name.lower()
    for suffix in _TEMPLATE_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return not name.endswith(_TEXT_SUFFIXES)


def make_environment(loader: BaseLoader | None = None) -> Environment:
    """A new environment over ``loader`` (default: the report templates) with the settings
    described in this module's docstring."""
    env = Environment(
        loader=loader or REPORT_LOADER, autoescape=escapes, undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    del env.filters["safe"]
    return env


@functools.cache
def report_environment() -> Environment:
    """The shared environment of the packaged report templates."""
    return make_environment()


def _source_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(page: str) -> str:
    """The policy for a rendered page: its own ``<style>`` and ``<script>`` blocks by hash
    (``'none'`` when it has none), ``data:`` images, nothing else. A ``<script src>`` is
    refused: a page loads nothing from elsewhere."""
    hashes: dict[str, list[str]] = {"style": [], "script": []}
    for match in _BLOCK.finditer(page):
        kind, attributes, body = match.group(1).lower(), match.group(2), match.group(3)
        if re.search(r"\bsrc\s*=", attributes, re.IGNORECASE):
            raise ValueError("a page may not load a script from elsewhere")
        source = _source_hash(body)
        if source not in hashes[kind]:
            hashes[kind].append(source)
    style = " ".join(hashes["style"]) or "'none'"
    script = " ".join(hashes["script"]) or "'none'"
    return (f"default-src 'none'; style-src {style}; script-src {script}; img-src data:; "
            "base-uri 'none'; form-action 'none'")


def with_csp(page: str) -> str:
    """``page`` with its Content-Security-Policy as the first element of ``<head>``."""
    head = _HEAD.search(page)
    if head is None:
        raise ValueError("a page needs a <head> for its Content-Security-Policy")
    meta = ('\n<meta http-equiv="Content-Security-Policy" content="'
            f'{content_security_policy(page)}">')
    return page[: head.end()] + meta + page[head.end():]


def render_page(env: Environment, template_name: str, **context: Any) -> str:
    """Render an HTML template of ``env`` into a page carrying its CSP."""
    if not escapes(template_name):
        raise ValueError(f"{template_name}: a text template is not a page")
    return with_csp(env.get_template(template_name).render(**context))
