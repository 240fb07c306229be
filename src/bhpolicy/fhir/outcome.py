"""Errors under /fhir: one OperationOutcome naming the element (a FHIRPath expression) and
the problem, never a value from the request (values are PHI)."""

from __future__ import annotations

from typing import Any

from bhpolicy.errors import BhpolicyError

# FHIR issue-type codes (http://hl7.org/fhir/issue-type) by HTTP status, when not given.
_CODE_OF_STATUS = {400: "structure", 401: "login", 403: "forbidden", 404: "not-found",
                   409: "conflict", 413: "too-costly", 415: "not-supported", 422: "invalid"}


class FhirError(BhpolicyError):
    """A request the FHIR API refuses. ``expression`` is the FHIRPath of the element at fault
    (``Bundle.entry[0].resource.use``), ``rule`` the IG rule broken (an FSH citation)."""

    def __init__(self, expression: str | None, problem: str, *, status: int = 422,
                 code: str | None = None, rule: str | None = None) -> None:
        self.expression = expression
        self.problem = problem
        self.status = status
        self.code = code or _CODE_OF_STATUS.get(status, "processing")
        self.rule = rule
        where = f"{expression}: " if expression else ""
        cited = f" ({rule})" if rule else ""
        super().__init__(f"{where}{problem}{cited}")


def structure(expression: str | None, problem: str, rule: str | None = None) -> FhirError:
    """Bad JSON or a resource that is not what FHIR R4 says: HTTP 400."""
    return FhirError(expression, problem, status=400, code="structure", rule=rule)


def required(expression: str, problem: str = "missing", rule: str | None = None) -> FhirError:
    return FhirError(expression, problem, status=422, code="required", rule=rule)


def invalid(expression: str, problem: str, rule: str | None = None,
            code: str = "invalid") -> FhirError:
    return FhirError(expression, problem, status=422, code=code, rule=rule)


def operation_outcome(error: FhirError) -> dict[str, Any]:
    """The OperationOutcome of one error (FHIR R4 OperationOutcome)."""
    issue: dict[str, Any] = {"severity": "error", "code": error.code,
                             "diagnostics": str(error)}
    if error.expression:
        issue["expression"] = [error.expression]
    issue["details"] = {"text": error.problem}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def outcome_of(status: int, message: str, expression: str | None = None) -> dict[str, Any]:
    """An OperationOutcome for an error raised outside bhpolicy.fhir (services, auth)."""
    return operation_outcome(FhirError(expression, message, status=status))
