"""The pages' markup keeps to the CSP without 'unsafe-inline': no <style> or inline <script>
block, no style= or on*= attribute, no hx-on, no javascript: URL, nothing loaded from another
site; every template compiles in the one environment (escaping on, no |safe); the vendored
files are there with their licences and VERSIONS.txt names each."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from jinja2 import TemplateSyntaxError

from bhpolicy.web.rendering import environment, time_left, when
from tests.conftest import REPO

WEB = REPO / "src" / "bhpolicy" / "web"
TEMPLATES = sorted((WEB / "templates").glob("*.j2"))
STATIC = WEB / "static"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_a_template_has_no_inline_script_or_style(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"<style\b", text, re.I), "a <style> block needs 'unsafe-inline'"
    for script in re.findall(r"<script\b[^>]*>", text, re.I):
        assert re.search(r'\bsrc="/static/', script), f"inline or foreign script: {script}"
    assert not re.search(r"\sstyle\s*=", text, re.I), "a style= attribute"
    assert not re.search(r"\son[a-z]+\s*=", text, re.I), "an inline event handler"
    assert not re.search(r"hx-on", text, re.I), "hx-on runs inline code"
    assert "javascript:" not in text.lower()
    assert not re.search(r'(?:src|href)="(?:https?:)?//', text), "loads from another site"
    assert "|safe" not in text.replace(" ", "")


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_a_template_compiles_and_escapes(path: Path) -> None:
    env = environment()
    template = env.get_template(path.name)
    assert template is not None
    assert env.autoescape(path.name) is True  # type: ignore[operator]


def test_the_environment_refuses_safe() -> None:
    with pytest.raises(TemplateSyntaxError):
        environment().from_string("{{ x | safe }}")


def test_text_reaching_a_page_is_escaped() -> None:
    page = environment().get_template("error.html.j2").render(
        status=422, detail='<script>alert(1)</script>"', user=None, csrf_token="", path="/")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;&#34;" in page


def test_labels_point_at_inputs() -> None:
    """Every <label for=x> names an element with id x in the same template, and every
    visible input, select and textarea has a label (or is a hidden field)."""
    for path in TEMPLATES:
        text = path.read_text(encoding="utf-8")
        ids = set(re.findall(r'\bid="([^"{]+)"', text))
        for target in re.findall(r'<label for="([^"{]+)"', text):
            assert target in ids, f"{path.name}: label for {target!r} has no element"
        labelled = set(re.findall(r'<label for="([^"]+)"', text))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", text):
            if 'type="hidden"' in tag:
                continue
            found = re.search(r'\bid="([^"]+)"', tag)
            assert found and found.group(1) in labelled, f"{path.name}: unlabelled {tag}"


def test_time_left_and_when_read_plainly() -> None:
    import datetime as dt

    assert time_left(2 * 86400 + 3 * 3600 + 59) == "2 d 3 h"
    assert time_left(5 * 3600 + 10 * 60) == "5 h 10 min"
    assert time_left(-(25 * 60)) == "overdue by 25 min"
    assert time_left(None) == ""
    moment = dt.datetime(2026, 12, 1, 10, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert when(moment) == "2026-12-01 15:05 UTC"
    assert when(dt.date(2026, 12, 1)) == "2026-12-01"


def test_vendored_files_match_versions_txt() -> None:
    vendor = STATIC / "vendor"
    versions = (vendor / "VERSIONS.txt").read_text(encoding="utf-8")
    for name in ("htmx.min.js", "swagger-ui-bundle.js", "swagger-ui.css"):
        digest = hashlib.sha256((vendor / name).read_bytes()).hexdigest()
        assert f"{digest}  {name}" in versions, name
    axe = REPO / "tests" / "support" / "vendor" / "axe.min.js"
    assert hashlib.sha256(axe.read_bytes()).hexdigest() in versions
    for licence in ("htmx.LICENSE", "swagger-ui.LICENSE", "swagger-ui.NOTICE"):
        assert (vendor / licence).is_file()
    assert "htmx.org 2." in versions and "swagger-ui-dist 5." in versions
    assert "axe-core 4." in versions
    assert not (vendor / "axe.min.js").exists(), "axe-core is for the tests, not served"


def test_htmx_is_configured_without_eval_or_inline_styles() -> None:
    base = (WEB / "templates" / "base.html.j2").read_text(encoding="utf-8")
    config = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", base)
    assert config
    import json

    settings = json.loads(config.group(1))
    assert settings["allowEval"] is False and settings["includeIndicatorStyles"] is False
    assert settings["allowScriptTags"] is False and settings["selfRequestsOnly"] is True
