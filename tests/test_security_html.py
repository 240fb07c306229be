"""Hostile text in any input that reaches an HTML page shows as text and never runs (issue 14,
item 1). Every page comes from one Jinja environment that escapes by default, and each page
has a Content-Security-Policy that allows only its own style block (by its hash) and no
script. The billing report, the audit report and ``check --format html`` get payloads in
every text column of every input, go through the CLI, and are then checked twice: in the
HTML text (no payload left raw, no attribute or element made from one) and in Debian's
chromium (``window.__pwned`` stays undefined, the escaped text is visible, and the console
shows no CSP violation)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import DictLoader, TemplateSyntaxError
from markupsafe import escape

from bhpolicy.report.environment import (
    content_security_policy,
    escapes,
    make_environment,
    report_environment,
    with_csp,
)
from tests.audit_helpers import CLAIM_FIELDS, claim
from tests.billing_helpers import (
    AUTH_FIELDS,
    CONTACT_FIELDS,
    MEMBER_FIELDS,
    SC_NPI,
    auth,
    contact,
    member,
    write_csv,
)
from tests.conftest import REPO
from tests.support.browser import needs_chromium, open_page, save_screenshot
from tests.support.dates import AS_OF_TEXT
from tests.test_cli import run

TEMPLATES = REPO / "src" / "bhpolicy" / "report" / "templates"
REPORT_PY = REPO / "src" / "bhpolicy" / "report"

# Each would set window.__pwned if it reached the page as markup: as an element, as an
# attribute breaking out of a double- or single-quoted value, as a URL, or by closing the
# page's style block. None holds a comma or a line break, so each fits any CSV cell.
PAYLOADS = (
    "<script>window.__pwned=1</script>",
    '"><img src=x onerror="window.__pwned=1">',
    "' onmouseover='window.__pwned=1' x='",
    "javascript:window.__pwned=1",
    "</style><script>window.__pwned=1</script><style>",
    "<svg onload=window.__pwned=1>",
)
# the optional text columns the helpers leave out
AUTHS = [*AUTH_FIELDS, *{"payer_id"} - set(AUTH_FIELDS)]
CLAIMS = [*CLAIM_FIELDS, *sorted({"rendering_taxonomy", "diagnosis"} - set(CLAIM_FIELDS))]
CSP_META = re.compile(r'<head>\n<meta http-equiv="Content-Security-Policy" content="([^"]*)">')


# --- the environment -------------------------------------------------------------------

def test_factory_escapes_an_html_j2_template_by_default() -> None:
    """Templates are named *.html.j2, which select_autoescape(["html"]) does not match: the
    factory escapes them (and anything else not named as text)."""
    env = make_environment(DictLoader({"page.html.j2": "<p>{{ x }}</p>",
                                       "note.txt.j2": "{{ x }}"}))
    hostile = PAYLOADS[1]
    assert env.get_template("page.html.j2").render(x=hostile) == (
        "<p>&#34;&gt;&lt;img src=x onerror=&#34;window.__pwned=1&#34;&gt;</p>")
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    assert env.get_template("note.txt.j2").render(x="<b>") == "<b>"  # plain text stays


def test_every_packaged_html_template_escapes() -> None:
    names = sorted(p.name for p in TEMPLATES.glob("*.html.j2"))
    assert names == ["audit.html.j2", "billing.html.j2", "determination.html.j2"]
    env = report_environment()
    for name in names:
        assert escapes(name)
        assert env.get_template(name).render  # loads under the shared environment
    assert not escapes("determination.txt.j2")
    assert escapes(None) and escapes("page.HTML.jinja2") and escapes("page.html")


def test_safe_filter_does_not_exist_in_templates() -> None:
    """Nothing can be unescaped from a template: |safe is a compile error."""
    env = make_environment(DictLoader({"page.html.j2": "{{ x | safe }}"}))
    with pytest.raises(TemplateSyntaxError, match="safe"):
        env.get_template("page.html.j2")


def test_templates_and_renderers_unescape_nothing_and_inline_nothing() -> None:
    """No |safe, no autoescape switch, no Markup in the renderers; no inline event handler,
    style attribute or javascript: URL in a template (each would need 'unsafe-inline')."""
    for path in sorted(TEMPLATES.glob("*.j2")):
        text = path.read_text()
        assert not re.search(r"\|\s*safe\b|autoescape\s+false", text, re.I), path.name
        if path.name.endswith(".html.j2"):
            assert not re.search(r"\s(on[a-z]+|style)\s*=", text, re.I), path.name
            assert "javascript:" not in text.lower(), path.name
    for path in sorted(REPORT_PY.glob("*.py")):
        code = path.read_text()
        assert not re.search(r"Markup\(|import.*\bMarkup\b|autoescape\s*=\s*False", code), (
            path.name)


def test_csp_allows_exactly_the_page_own_style_by_hash() -> None:
    page = with_csp("<html><head><style>p { color: red; }</style><script>1</script></head>"
                    "<body></body></html>")
    style = "'sha256-" + base64.b64encode(hashlib.sha256(
        b"p { color: red; }").digest()).decode() + "'"
    script = "'sha256-" + base64.b64encode(hashlib.sha256(b"1").digest()).decode() + "'"
    assert page.startswith('<html><head>\n<meta http-equiv="Content-Security-Policy" '
                           f'content="default-src \'none\'; style-src {style}; script-src '
                           f"{script}; img-src data:; base-uri 'none'; form-action 'none'\">")
    assert "script-src 'none'" in content_security_policy("<head><style></style></head>")
    with pytest.raises(ValueError, match="elsewhere"):
        content_security_policy('<head><script src="https://example.org/x.js"></script>')


# --- hostile inputs through the CLI ------------------------------------------------------

def billing_inputs(folder: Path) -> tuple[list[str], list[str]]:
    """Contacts, members and authorizations with a payload in every text column. Each
    payload gets a member whose rows carry it in every free-text column and still bill
    (the member id is on the page, in a calendar); every constrained column (dates,
    numbers, enums, the policy, the billing code) gets the payloads too, on rows of their
    own that are rejected. Returns the CLI arguments and the member ids the page shows."""
    folder.mkdir(parents=True, exist_ok=True)
    contacts, members, auths, shown = [], [], [], []
    for i, payload in enumerate(PAYLOADS):
        member_id, provider = f"M{i}{payload}", f"P{i}{payload}"
        shown.append(member_id)
        members.append(member(member_id, medicaid_id=payload, last_name=payload,
                              first_name=payload, address_line=payload, city=payload,
                              state=payload, zip=payload, primary_dx=payload))
        auths.append({**auth(f"A{i}{payload}", member_id, provider_id=provider,
                             contributing=payload), "payer_id": payload})
        for day in range(2, 12):
            row = contact(f"2026-03-{day:02d}", provider_id=provider, member_id=member_id)
            row.update(contact_id=f"C{i}-{day}{payload}", staff_id=payload)
            contacts.append(row)
        # a contact by a provider the authorization does not name: other-provider contacts
        contacts.append({**contact("2026-03-20", member_id=member_id), "provider_id": payload,
                         "contact_id": f"X{i}{payload}"})
        for field in ("contact_date", "minutes", "mode", "participant", "group", "pos"):
            contacts.append({**contact("2026-03-25", member_id=member_id),
                             field: payload, "contact_id": f"R{i}{field}{payload}"})
        for field in ("birth_date", "sex"):
            members.append(member(f"R{i}{field}", **{field: payload}))
        for field, value in (("policy", payload), ("team_size", payload),
                             ("start_date", payload), ("end_date", payload),
                             ("billing_code", payload)):
            row = auth(f"R{i}{field}", f"R{i}{field}")
            row[field] = value
            auths.append(row)
    paths = [write_csv(folder / "contacts.csv", CONTACT_FIELDS, contacts),
             write_csv(folder / "members.csv", MEMBER_FIELDS, members),
             write_csv(folder / "authorizations.csv", AUTHS, auths)]
    return (["--contacts", str(paths[0]), "--members", str(paths[1]),
             "--authorizations", str(paths[2])], shown)


def audit_inputs(folder: Path) -> tuple[list[str], list[str]]:
    """Other claims, ACT claims, members and authorizations with a payload in every text
    column. Each payload gets a member with an ACT authorization, a psychosocial
    outpatient therapy claim during it and two ACT per diems on one day (findings that show the
    member and claim ids), with the payload in every free-text column; the constrained
    columns get it on rows of their own; the contact log is the billing test's. Returns the
    CLI arguments and the ids shown."""
    folder.mkdir(parents=True, exist_ok=True)
    members, auths, claims, act, shown = [], [], [], [], []
    for i, payload in enumerate(PAYLOADS):
        member_id = f"M{i}{payload}"
        members.append(member(member_id, medicaid_id=payload, last_name=payload,
                              first_name=payload, address_line=payload, city=payload,
                              state=payload, zip=payload, primary_dx=payload))
        auths.append({**auth(f"A{i}{payload}", member_id, contributing=payload),
                      "payer_id": payload})
        free = {"revenue_code": payload, "bill_type": payload, "authorization_id": payload,
                "provider_id": f"P{i}{payload}", "rendering_taxonomy": payload,
                "diagnosis": payload}
        claims.append(claim(f"C{i}{payload}", member_id, "2026-03-20", hcpcs="90834",
                            paid="80.00", **free))
        claims.append(claim(f"D{i}{payload}", member_id, "2026-03-21", hcpcs=payload,
                            modifiers=payload, **free))
        for n in (1, 2):
            act.append(claim(f"K{i}-{n}{payload}", member_id, "2026-03-22", hcpcs="H0040",
                             provider_id=SC_NPI, paid="200.00", pos="12",
                             authorization_id=f"A{i}{payload}"))
        shown += [member_id, f"C{i}{payload}", f"K{i}-2{payload}"]
        for field in ("from_date", "to_date", "pos", "units", "paid_amount"):
            claims.append({**claim(f"R{i}{field}{payload}", member_id, "2026-03-23",
                                   hcpcs="H2017"), field: payload})
    billing_args, _ = billing_inputs(folder / "contacts")  # the team's contact log too
    paths = [write_csv(folder / "claims.csv", CLAIMS, claims),
             write_csv(folder / "members.csv", MEMBER_FIELDS, members),
             write_csv(folder / "authorizations.csv", AUTHS, auths),
             write_csv(folder / "act_claims.csv", CLAIMS, act)]
    return (["--claims", str(paths[0]), "--members", str(paths[1]), "--authorizations",
             str(paths[2]), "--act-claims", str(paths[3]), "--contacts", billing_args[1],
             "--as-of", AS_OF_TEXT], shown)


def check_inputs(folder: Path) -> tuple[list[str], list[str]]:
    """Cases with a payload in each text field a case has (case_id, member_id; every fact is
    typed: dates, numbers, codes or names from the pack's list, so a payload in one is a
    rejected case, also included)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = json.loads((REPO / "examples" / "cases" / "sc-initial-meets.json").read_text())
    cases, shown = [], []
    for i, payload in enumerate(PAYLOADS):
        case_id = f"CASE-{i}{payload}"
        shown.append(case_id)
        cases.append({**base, "case_id": case_id, "member_id": f"M{i}{payload}"})
        cases.append({**base, "case_id": f"BAD-{i}{payload}",
                      "facts": {**base["facts"], "primary_diagnosis": payload}})
    path = folder / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    return [str(path), "--format", "html", "--as-of", AS_OF_TEXT], shown


def render_billing(tmp_path: Path) -> tuple[Path, list[str]]:
    args, shown = billing_inputs(tmp_path / "in")
    out = tmp_path / "billing"
    result = run("bill", *args, "--out", str(out))
    assert result.returncode == 1, result.stderr  # the constrained-column rows are rejected
    assert "Traceback" not in result.stderr
    return out / "report.html", shown


def render_audit(tmp_path: Path) -> tuple[Path, list[str]]:
    args, shown = audit_inputs(tmp_path / "in")
    out = tmp_path / "audit"
    result = run("audit", *args, "--out", str(out))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    return out / "report.html", shown


def render_check(tmp_path: Path) -> tuple[Path, list[str]]:
    args, shown = check_inputs(tmp_path / "in")
    result = run("check", *args)
    assert result.returncode == 1, result.stderr  # the cases with a payload as a diagnosis
    assert "Traceback" not in result.stderr
    page = tmp_path / "worksheet.html"
    page.write_text(result.stdout)
    return page, shown


PAGES = {"billing": render_billing, "audit": render_audit, "check": render_check}
_RENDERED: dict[str, tuple[Path, list[str]]] = {}


def rendered(name: str, tmp_path: Path) -> tuple[Path, list[str]]:
    """Each page is rendered once (in the first test's own folder and data home) and read
    by the HTML test and the browser test."""
    if name not in _RENDERED:
        _RENDERED[name] = PAGES[name](tmp_path)
    return _RENDERED[name]


class Markup(HTMLParser):
    """What a browser would build from a page: its elements, attributes and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.style: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in = tag

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        (self.style if self._in == "style" else self.text).append(data)


def parse(page: str) -> Markup:
    markup = Markup()
    markup.feed(page)
    markup.close()
    return markup


@pytest.mark.parametrize("name", sorted(PAGES))
def test_payloads_in_every_text_column_are_escaped_in_the_html(name: str,
                                                               tmp_path: Path) -> None:
    path, shown = rendered(name, tmp_path)
    page = path.read_text()
    for payload in PAYLOADS:
        if re.search("[<>\"']", payload):  # javascript: is harmless text (see the tags below)
            assert payload not in page, payload
    for text in shown:  # on the page, escaped
        assert str(escape(text)) in page, text
    markup = parse(page)
    tags = {tag for tag, _ in markup.tags}
    assert not tags & {"script", "img", "svg", "iframe", "object", "embed", "a", "form"}
    for tag, attrs in markup.tags:
        for attribute, value in attrs:
            assert not attribute.startswith("on") and attribute != "style", (tag, attribute)
            assert not (value or "").lower().startswith("javascript:"), (tag, attribute)
    visible = " ".join(markup.text)
    for text in shown:
        assert text in visible, text  # a browser shows the text as it was typed
    policy = CSP_META.search(page)  # the first element of <head>
    assert policy is not None and policy.start() == page.index("<head>")
    style = "'sha256-" + base64.b64encode(hashlib.sha256(
        "".join(markup.style).encode()).digest()).decode() + "'"
    assert policy.group(1) == (f"default-src 'none'; style-src {style}; script-src 'none'; "
                               "img-src data:; base-uri 'none'; form-action 'none'")


@pytest.mark.browser
@needs_chromium
@pytest.mark.parametrize("name", sorted(PAGES))
def test_payloads_never_run_in_a_real_browser(name: str, tmp_path: Path) -> None:
    path, shown = rendered(name, tmp_path)
    console: list[str] = []
    with open_page(path, console) as page:
        for cell in page.locator("td, b, h2", has_text="__pwned").all():
            cell.hover()  # would fire an onmouseover, had one slipped in
        assert page.evaluate("typeof window.__pwned") == "undefined"
        body = page.inner_text("body")
        for text in shown:
            assert text in body, text
        # the page's own style block applies under its CSP
        assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith(
            "system-ui")
        save_screenshot(page, tmp_path, f"security-{name}")
    assert console == []


@pytest.mark.browser
@needs_chromium
def test_the_csp_blocks_markup_the_page_did_not_ship(tmp_path: Path) -> None:
    """The second line of defence: were a payload ever printed raw, the page's policy would
    still refuse to run it, and the browser says so in the console (which the tests
    above watch)."""
    page_text, _ = render_check(tmp_path)
    page = page_text.read_text().replace(
        "<body>", '<body><script>window.__pwned=1</script><p style="color: red" '
        'id="styled">x</p><img src="x" onerror="window.__pwned=2">', 1)
    path = tmp_path / "tampered.html"
    path.write_text(page)
    console: list[str] = []
    with open_page(path, console) as browser_page:
        assert browser_page.evaluate("typeof window.__pwned") == "undefined"
        assert browser_page.evaluate(
            "getComputedStyle(document.getElementById('styled')).color") != "rgb(255, 0, 0)"
    assert any("Content Security Policy" in line for line in console), console


@pytest.mark.browser
@needs_chromium
def test_worksheet_rows_keep_their_indent_without_inline_styles(tmp_path: Path) -> None:
    """The criteria rows were indented by style="" (which the CSP refuses); their classes,
    styled in the page's own style block, indent them the same: 0.4rem + 1.2rem a level."""
    path = tmp_path / "worksheet.html"
    result = run("check", str(REPO / "examples" / "cases" / "sc-initial-meets.json"),
                 "--format", "html", "--as-of", AS_OF_TEXT)
    assert result.returncode == 0, result.stderr
    path.write_text(result.stdout)
    console: list[str] = []
    with open_page(path, console) as page:
        size = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
        for depth in (0, 1, 2):
            pad = page.evaluate(f"getComputedStyle(document.querySelector('td.depth-{depth}'))"
                                ".paddingLeft")
            assert float(pad.removesuffix("px")) == pytest.approx((0.4 + 1.2 * depth) * size)
        save_screenshot(page, tmp_path, "worksheet-indent")
    assert console == []
