"""The encoding of line and day texts: a line's text that repeats is found through one
number, its kind (see :func:`kind_of`), joined from a small table of kinds
(:func:`line_kinds`: every kind for a run over files, the lines' own kinds, decoded by
:func:`kind_fields`, for the one-member plan); an unbilled day's likewise
(:func:`unbilled_kinds`). The rules (:mod:`bhpolicy.billing.rules`,
:mod:`bhpolicy.domain.rules`) decide each text; this module only numbers them.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from bhpolicy.billing import rules
from bhpolicy.billing.bits import two_digits
from bhpolicy.domain.coverage import TEAM_SIZES
from bhpolicy.domain.parameters import param
from bhpolicy.domain.rules import (
    LEVEL_REASONS,
    QUALIFIES,
    billing_code,
    is_timed,
    monthly_cap_section,
)

# Holds as small numbers (0: none); line_kinds turns the numbers back into text.
HOLDS = (None, "outside_authorization", "code_not_listed", "team_size_unknown",
         "mixed_codes_in_month", "over_monthly_cap", "plan_policy_not_yet_issued",
         "place_of_service_missing")


HOLD = {reason: n for n, reason in enumerate(HOLDS) if reason}


# A line's text that repeats (code, modifier, POS, status, reason and its CARC, section,
# policy) is found through one number, its kind: the segment, the billing code's key, the
# hold, already billed or not, the team size and the POS key (0-99 a two-digit POS, then the
# pack's inpatient and default POS). Writing a number per line and joining a small table is
# cheaper than building the same text on millions of lines; a database can also store the
# small table's text as dictionary values.
POS_INPATIENT, POS_DEFAULT = 100, 101

CODE_SHIFT, SEGMENT_SHIFT = 20, 40  # bit fields of a kind (encoding constants)


def kind_of(segment: ir.IntegerValue, code_key: ir.IntegerValue, hold: ir.IntegerValue,
             billed: ir.IntegerValue, team_key: ir.IntegerValue, pos_key: ir.IntegerValue
             ) -> ir.IntegerValue:
    low = ((hold.cast("int64") * 2 + billed) * len(TEAM_SIZES) + team_key) * (
        POS_DEFAULT + 1) + pos_key
    return (segment.cast("int64") << SEGMENT_SHIFT) | (
        code_key.cast("int64") << CODE_SHIFT) | low


def numbered(name: str, values: list[int], text: list[str | None] | None = None
              ) -> ir.Table:
    columns: dict[str, list[object]] = {f"k_{name}": list(values)}
    types = {f"k_{name}": "int64"}
    if text is not None:
        columns[f"t_{name}"], types[f"t_{name}"] = list(text), "string"
    return ibis.memtable(columns, schema=ibis.schema(types))


def kind_fields(kind: ir.IntegerValue) -> dict[str, ir.IntegerValue]:
    """The fields :func:`kind_of` packed into ``kind``: segment, k_code, k_hold, k_billed,
    k_team and k_pos."""
    low = kind & ((1 << CODE_SHIFT) - 1)
    rest = low // (POS_DEFAULT + 1)
    teams = rest // len(TEAM_SIZES)
    return {"segment": kind >> SEGMENT_SHIFT,
            "k_code": (kind >> CODE_SHIFT) & ((1 << (SEGMENT_SHIFT - CODE_SHIFT)) - 1),
            "k_hold": teams // 2, "k_billed": teams % 2, "k_team": rest % len(TEAM_SIZES),
            "k_pos": low % (POS_DEFAULT + 1)}


def _text_of(key: ir.IntegerValue, texts: tuple[str | None, ...]) -> ir.StringValue:
    """The text numbered ``key`` in ``texts`` (as :func:`numbered` would join it)."""
    return ibis.cases(*[(key == n, ibis.literal(t, "string")) for n, t in enumerate(texts)
                        if t is not None], else_=ibis.null().cast("string"))


def line_kinds(segs: ir.Table, coverage: ir.Table, reasons: ir.Table,
               used: ir.Table | None = None) -> ir.Table:
    """Grain: line kind (see :func:`kind_of`), with the text a line of that kind carries.
    Without ``used``: every combination of segment, billing code, hold, already billed, team
    size and POS key (4,896 rows a segment and code; a run over files, whose lines would
    cost more to read again than this to build). With ``used`` (a table of the lines'
    ``line_kind``): only those kinds, decoded (a run of a few rows, the one-member plan).
    ``segs``: :func:`~bhpolicy.domain.parameters.segments` of the run's parameters."""
    codes = coverage.select(k_code=coverage.code_key, t_code=coverage.billing_code)
    codes = ibis.union(codes, numbered("code", [0], [None]), distinct=True)
    if used is None:
        k = segs.cross_join(codes).cross_join(
            numbered("hold", list(range(len(HOLDS))), list(HOLDS)))
        k = k.cross_join(numbered("billed", [0, 1]))
        k = k.cross_join(numbered("team", list(range(len(TEAM_SIZES))), list(TEAM_SIZES)))
        k = k.cross_join(numbered("pos", list(range(POS_DEFAULT + 1))))
        k = k.mutate(kind=kind_of(k.segment, k.k_code, k.k_hold, k.k_billed, k.k_team,
                                  k.k_pos))
    else:
        found = used.select(kind=used.line_kind).distinct()
        found = found.select("kind", **kind_fields(found.kind))
        # a hold past the table's has no kind there either (no text, never "billable")
        found = found.filter(found.k_hold < len(HOLDS))
        found = found.mutate(t_hold=_text_of(found.k_hold, HOLDS),
                             t_team=_text_of(found.k_team, TEAM_SIZES))
        k = found.join(segs, "segment").join(codes, "k_code")
    code = billing_code(k, k.t_code)
    timed = is_timed(k, code)
    modifier = rules.team_size_modifier(k, timed, k.t_team)
    # POS keys: the inpatient POS, a contact's two-digit POS, or none (the pack's default)
    pos = rules.place_of_service(
        k, k.k_pos == POS_INPATIENT,
        ibis.ifelse(k.k_pos < POS_INPATIENT, two_digits(k.k_pos), ibis.null().cast("string")))
    status = ibis.cases((k.k_billed == 1, "already_billed"), (k.t_hold.notnull(), "held"),
                        else_="billable")
    k = k.mutate(hcpcs=code, modifier=modifier, pos=pos, status=status)
    k = k.left_join(reasons, [k.policy_id == reasons.policy_id, k.t_hold == reasons.reason_id])
    # the monthly cap cites the passage stating it on the day
    section = ibis.ifelse(k.t_hold == "over_monthly_cap", monthly_cap_section(k),
                          ibis.null().cast("string"))
    return k.select(
        "kind", "hcpcs", "modifier", "pos", "status", reason_id=k.t_hold,
        carc_group=k.carc_group, carc=k.carc, rarc=k.rarc,
        rule_id=k.t_hold.fill_null("per_diem_day"),
        section=section.fill_null(k.reason_section).fill_null(
            param(k, "per_diem_day", "face_to_face_modes__section")),
        policy_id=k.policy_id, policy_revision=k.policy_revision,
        # no contact gave the place of service: the pack's default, said so on the line
        pos_defaulted=k.k_pos == POS_DEFAULT)


# A day without a line: the reason is the furthest check its contacts reached, or (all
# checks passed) qualifying contacts short of a per-15-minute unit.
NO_LINE = {**LEVEL_REASONS, QUALIFIES: "under_min_minutes"}


def day_kind_of(segment: ir.IntegerValue, level: ir.IntegerValue) -> ir.IntegerValue:
    return (segment.cast("int64") << SEGMENT_SHIFT) | level.cast("int64")


def unbilled_kinds(segs: ir.Table, reasons: ir.Table) -> ir.Table:
    """Grain: kind of unbilled day (segment and :data:`NO_LINE` key), with the text each
    such day carries (the reason, its section and codes), as :func:`line_kinds` does for
    lines (``segs`` as there)."""
    k = segs.cross_join(numbered("level", list(NO_LINE), list(NO_LINE.values())))
    # inner: a pack has every reason its rules can give (load_reasons); a reason it has no
    # rule for (place_of_service_excluded without pos_restrictions) has no kind
    k = k.join(reasons, [k.policy_id == reasons.policy_id, k.t_level == reasons.reason_id])
    return k.select(
        kind=day_kind_of(k.segment, k.k_level), reason_id=k.t_level,
        reason=k.reason_summary, section=k.reason_section, carc_group=k.carc_group,
        carc=k.carc, rarc=k.rarc, policy_id=k.policy_id)
