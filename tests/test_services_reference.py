"""Reference reads for the web: codes from the catalog and policy packs with their dated
parameters and criteria sections; every role may read them."""

from __future__ import annotations

import datetime as dt

import pytest

from bhpolicy.services import reference
from bhpolicy.services.errors import Invalid, NotFound
from bhpolicy.services.permissions import ROLES
from bhpolicy.services.users import Actor

ON = dt.date(2026, 12, 1)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_codes_and_policies(role: str) -> None:
    actor = Actor(1, "u", role, None)
    assert reference.search_codes(actor, "assertive community treatment")[0].code == "H0040"
    assert "H0040" in {c.code for c in reference.list_codes(actor)}
    assert {p.alias for p in reference.list_policies(actor)} >= {"sc-act", "mn-act"}


def test_code_and_policy_detail() -> None:
    actor = Actor(1, "u", "analyst", None)
    code = reference.get_code(actor, "h0040")
    assert code.code == "H0040" and code.entry["official_descriptor"]["source"]
    with pytest.raises(NotFound):
        reference.get_code(actor, "ZZZZZ")
    policy = reference.get_policy(actor, "sc-act", ON)
    assert policy.id == "SC.CP.BH.500"
    minimum = {p.name: p for p in policy.parameters}["min_age_years"]
    assert (minimum.value, minimum.section) == (18, "I.A")
    assert {"I.A", "I.D", "II.A"} <= {s.section for s in policy.sections}
    with pytest.raises(NotFound):
        reference.get_policy(actor, "nope", ON)
    with pytest.raises(Invalid) as caught:
        reference.search_codes(actor, "   ")
    assert caught.value.element == "q"
