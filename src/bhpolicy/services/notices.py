"""What each notice says. The elements and their citations come from the pack's
``review.yaml``, the sentences from the notice wording (placeholder until a State's model
wording is configured), the numbers (appeal days, continued-benefit days, advance notice) from
the dated review parameters in force on the day the notice is sent.

An adverse notice (a denial, a partial approval, or a missed deadline, which counts as a
denial) carries every element of 42 CFR 438.404(b) (or 431.210 under fee-for-service); ending
or reducing a service in progress adds the advance notice of 42 CFR 431.211 and its effective
date.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bhpolicy.criteria.loader import criteria_for
from bhpolicy.db.models import Decision, Notice, Request
from bhpolicy.services.determining import case_pack, sections
from bhpolicy.services.ids import new_id
from bhpolicy.services.notice_wording import Wording, wording
from bhpolicy.services.review_rules import ReviewRules, review_rules
from bhpolicy.services.schemas import (
    CitedText,
    DatedRight,
    ExtensionDetail,
    Granted,
    NoticeCriterion,
    NoticeView,
    Period,
    Provider,
    Service,
)

RECIPIENTS = ["member", "requesting provider (copy)"]


def rules_for(request: Request) -> ReviewRules:
    return review_rules(case_pack(request.case))


def service_text(code: str, modifiers: list[str]) -> str:
    return "-".join([code, *modifiers])


def period_text(start: dt.date, end: dt.date) -> str:
    return f"{start.isoformat()} to {end.isoformat()}"


def granted_of(decision: Decision) -> Granted | None:
    if decision.kind == "deny":
        return None
    period = (Period(start=decision.period_start, end=decision.period_end)
              if decision.period_start and decision.period_end else None)
    return Granted(period=period, units=decision.units, code=decision.service_code,
                   modifiers=list(decision.modifiers))


def granted_text(granted: Granted) -> str:
    parts = []
    if granted.code:
        parts.append(service_text(granted.code, granted.modifiers))
    if granted.period:
        parts.append(period_text(granted.period.start, granted.period.end))
    if granted.units is not None:
        parts.append(f"{granted.units} units")
    return ", ".join(parts)


def _appeal_rights(request: Request, rules: ReviewRules, words: Wording, on: dt.date,
                   effective: dt.date | None, after_appeal: bool) -> dict[str, Any]:
    """The rights every adverse notice states, dated from ``on`` (the notice date)."""
    notice = rules.notice
    pack = case_pack(request.case)
    out: dict[str, Any] = {
        "records_and_criteria": CitedText(
            text=words.text("adverse", "records_and_criteria", policy=pack.id),
            citation=notice.records_and_criteria)}
    hearing = rules.value("state_fair_hearing_days", on)
    if rules.plan_appeal and not after_appeal:
        filing = rules.value("appeal_filing_days", on)
        by = on + dt.timedelta(days=filing.number)
        out["plan_appeal"] = DatedRight(
            text=words.text("adverse", "plan_appeal", days=filing.number, by=by),
            days=filing.number, by=by, citation=f"{notice.plan_appeal}; {filing.citation}")
        out["state_fair_hearing"] = CitedText(
            text=words.text("adverse", "state_fair_hearing_after_appeal", days=hearing.number),
            citation=f"{notice.state_fair_hearing}; {hearing.citation}")
        hours = rules.value("expedited_appeal_decision_hours", on).number
        out["expedited_appeal"] = CitedText(
            text=words.text("adverse", "expedited_appeal", hours=hours),
            citation=notice.expedited_appeal)
    else:
        by = on + dt.timedelta(days=hearing.number)
        out["plan_appeal"] = None
        out["state_fair_hearing"] = CitedText(
            text=words.text("adverse", "state_fair_hearing_direct", days=hearing.number, by=by),
            citation=f"{notice.state_fair_hearing}; {hearing.citation}")
        out["expedited_appeal"] = CitedText(text=words.text("adverse", "expedited_hearing"),
                                            citation=notice.expedited_appeal)
    benefits = rules.value("continued_benefits_request_days", on)
    by = on + dt.timedelta(days=benefits.number)
    if effective is not None and effective > by:
        by = effective  # the later of the two (42 CFR 438.420(a))
    out["continued_benefits"] = DatedRight(
        text=words.text("adverse", "continued_benefits", days=benefits.number, by=by),
        days=benefits.number, by=by, citation=f"{notice.continued_benefits}; "
                                              f"{benefits.citation}")
    return out


def _empty() -> dict[str, Any]:
    return {"granted": None, "reasons": [], "criteria": [], "records_and_criteria": None,
            "plan_appeal": None, "state_fair_hearing": None, "expedited_appeal": None,
            "continued_benefits": None, "advance_notice": None, "extension": None,
            "missed_deadline": None, "epsdt": None}


def _dump(content: dict[str, Any]) -> dict[str, Any]:
    return {key: (value.model_dump(mode="json") if hasattr(value, "model_dump") else
                  [v.model_dump(mode="json") if hasattr(v, "model_dump") else v
                   for v in value] if isinstance(value, list) else value)
            for key, value in content.items()}


def _new(request: Request, kind: str, now: dt.datetime, content: dict[str, Any],
         decision: Decision | None = None, effective: dt.date | None = None) -> Notice:
    return Notice(id=new_id("NT"), request_id=request.id, kind=kind, decision=decision,
                  content=_dump(content), sent_at=now, effective_date=effective)


def approval_notice(request: Request, decision: Decision, now: dt.datetime) -> Notice:
    rules, words = rules_for(request), wording()
    granted = granted_of(decision)
    assert granted is not None
    content = _empty() | {
        "placeholder_wording": words.placeholder,
        "decision": CitedText(text=words.text(
            "approval", "decision", service=service_text(request.service_code,
                                                         list(request.modifiers)),
            granted=granted_text(granted)), citation=rules.notice.approval),
        "granted": granted}
    return _new(request, "approval", now, content, decision)


def adverse_notice(request: Request, decision: Decision, now: dt.datetime,
                   epsdt_age: int | None) -> Notice:
    """The notice of a partial approval or denial; ending or reducing a continued stay is a
    termination, effective no sooner than the advance-notice days after the notice."""
    rules, words = rules_for(request), wording()
    pack = case_pack(request.case)
    on = now.date()
    service = service_text(request.service_code, list(request.modifiers))
    asked = {"service": service, "period": period_text(request.period_start, request.period_end),
             "units": request.units}
    granted = granted_of(decision)
    if decision.kind == "deny":
        text = words.text("adverse", "decision_deny", **asked)
    else:
        assert granted is not None
        text = words.text("adverse", "decision_partial", granted=granted_text(granted), **asked)
    if decision.on_appeal:
        text = f"{text} {words.text('adverse', 'appeal_resolution')}"
    known = sections(criteria_for(pack), request.request_type)
    criteria = [NoticeCriterion(section=s, summary=known.get(s), policy_id=pack.id,
                                policy_revision=pack.header.revision)
                for s in decision.criteria]
    kind, effective, advance = "adverse", None, None
    if request.request_type == "continued_stay":
        days = rules.value("termination_advance_notice_days", on)
        effective = on + dt.timedelta(days=days.number)
        if granted is not None and granted.period is not None:
            effective = max(effective, granted.period.end + dt.timedelta(days=1))
        kind = "termination"
        advance = DatedRight(text=words.text("adverse", "advance_notice", service=service,
                                             effective=effective, days=days.number),
                             days=days.number, by=effective,
                             citation=f"{rules.notice.advance_notice}; {days.citation}")
    content = _empty() | {
        "placeholder_wording": words.placeholder,
        "decision": CitedText(text=text, citation=rules.notice.decision),
        "granted": granted,
        "reasons": [words.text("adverse", "reasons_intro", policy=pack.id),
                    decision.reason or ""],
        "criteria": criteria,
        "advance_notice": advance,
        "epsdt": (CitedText(text=words.text("adverse", "epsdt", age=epsdt_age),
                            citation=rules.notice.epsdt) if epsdt_age is not None else None),
    } | _appeal_rights(request, rules, words, on, effective, decision.on_appeal)
    return _new(request, kind, now, content, decision, effective)


def extension_notice(request: Request, reason: str, days: int, deadline: dt.datetime,
                     now: dt.datetime) -> Notice:
    rules, words = rules_for(request), wording()
    service = service_text(request.service_code, list(request.modifiers))
    why = words.text("extension", f"reason_{reason}")
    text = words.text("extension", "text", service=service,
                      deadline=deadline.isoformat(timespec="minutes"), reason=why)
    content = _empty() | {
        "placeholder_wording": words.placeholder,
        "decision": CitedText(text=text, citation=rules.notice.extension),
        "extension": ExtensionDetail(
            reason=reason, days=days, new_deadline=deadline, text=text,
            grievance=CitedText(text=words.text("extension", "grievance"),
                                citation=rules.notice.extension))}
    return _new(request, "extension", now, content)


def _late_notice(request: Request, kind: str, citation: str, deadline: dt.datetime,
                 now: dt.datetime, appeal_done: bool) -> Notice:
    """A notice that a clock ran out (``kind`` names its wording), with every right left."""
    rules, words = rules_for(request), wording()
    service = service_text(request.service_code, list(request.modifiers))
    missed = CitedText(text=words.text(kind, "text", service=service,
                                       deadline=deadline.isoformat(timespec="minutes")),
                       citation=citation)
    content = _empty() | {"placeholder_wording": words.placeholder, "decision": missed,
                          "missed_deadline": missed} | _appeal_rights(
        request, rules, words, now.date(), None, appeal_done)
    return _new(request, kind, now, content)


def missed_deadline_notice(request: Request, deadline: dt.datetime,
                           now: dt.datetime) -> Notice:
    """A decision not made in time counts as a denial: the member is told so, with every
    appeal right; the request itself stays open and is escalated."""
    return _late_notice(request, "missed_deadline", rules_for(request).notice.missed_deadline,
                        deadline, now, False)


def appeal_overdue_notice(request: Request, deadline: dt.datetime,
                          now: dt.datetime) -> Notice:
    """A plan appeal not resolved in time: the member may go to the State fair hearing now
    (the plan's appeal process counts as exhausted); the appeal stays open and escalated."""
    citation = rules_for(request).notice.appeal_overdue
    assert citation is not None  # only managed care has plan appeals
    return _late_notice(request, "appeal_overdue", citation, deadline, now, True)


def notice_view(notice: Notice, request: Request) -> NoticeView:
    content = dict(notice.content)
    return NoticeView(
        id=notice.id, request_id=request.id, kind=notice.kind,
        sent_at=notice.sent_at, effective_date=notice.effective_date,
        recipients=RECIPIENTS, member_reference=request.member_reference,
        requesting_provider=Provider(npi=request.provider_npi, name=request.provider_name),
        service=Service(code=request.service_code, modifiers=list(request.modifiers)),
        period=Period(start=request.period_start, end=request.period_end),
        units=request.units, **content)
