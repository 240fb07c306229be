"""Names and fixed values of Da Vinci PAS 2.2.1 that bhpolicy checks or writes.

Each rule cites the IG's FSH source, tag 2.2.1 of HL7/davinci-pas (commit 8acd418), as
``input/fsh/<file>:<line>``; those citations travel into every OperationOutcome an unmet rule
produces, so a caller can find the rule it broke.
"""

from __future__ import annotations

IG_VERSION = "2.2.1"
FHIR_VERSION = "4.0.1"
BASE = "http://hl7.org/fhir/us/davinci-pas"
SD = f"{BASE}/StructureDefinition/"


def fsh(path: str) -> str:
    """A citation of a line of the IG's FSH source, e.g. ``Bundle.fsh:9``."""
    return f"PAS {IG_VERSION} input/fsh/{path}"


# Profiles
REQUEST_BUNDLE = SD + "profile-pas-request-bundle"
RESPONSE_BUNDLE = SD + "profile-pas-response-bundle"
INQUIRY_REQUEST_BUNDLE = SD + "profile-pas-inquiry-request-bundle"
INQUIRY_RESPONSE_BUNDLE = SD + "profile-pas-inquiry-response-bundle"
CLAIM = SD + "profile-claim"
CLAIM_UPDATE = SD + "profile-claim-update"
CLAIM_INQUIRY = SD + "profile-claim-inquiry"
CLAIM_RESPONSE = SD + "profile-claimresponse"
CLAIM_INQUIRY_RESPONSE = SD + "profile-claiminquiryresponse"
COMMUNICATION_REQUEST = SD + "profile-communicationrequest"
SUBSCRIPTION = SD + "profile-subscription"

# Extensions
EXT_REVIEW_ACTION = SD + "extension-reviewAction"
EXT_REVIEW_ACTION_CODE = SD + "extension-reviewActionCode"
EXT_REQUEST_TYPE = SD + "extension-serviceItemRequestType"
EXT_CERTIFICATION_TYPE = SD + "extension-certificationType"
EXT_LEVEL_OF_SERVICE = SD + "extension-levelOfServiceCode"
EXT_DOCUMENT_INFORMATION = SD + "extension-documentInformation"
EXT_AUTHORIZATION_NUMBER = SD + "extension-authorizationNumber"
EXT_ADMIN_REFERENCE = SD + "extension-administrationReferenceNumber"
EXT_PREAUTH_PERIOD = SD + "extension-itemPreAuthPeriod"
EXT_PREAUTH_ISSUE_DATE = SD + "extension-itemPreAuthIssueDate"
EXT_REQUESTED_SERVICE_DATE = SD + "extension-itemRequestedServiceDate"
EXT_AUTHORIZED_PROVIDER = SD + "extension-itemAuthorizedProvider"
EXT_AUTHORIZED_DETAIL = SD + "extension-itemAuthorizedDetail"
EXT_REQUESTED_SERVICE = SD + "extension-requestedService"
EXT_REVIEWER = SD + "extension-claimResponseReviewer"
EXT_SERVICE_LINE_NUMBER = SD + "extension-serviceLineNumber"

# Code systems
X12 = "https://codesystem.x12.org/005010/"
REVIEW_ACTION_SYSTEM = X12 + "306"       # HCR01 (ClaimResponse.fsh:153)
REQUEST_TYPE_SYSTEM = X12 + "1525"       # UM01 (Claim-update.fsh:108)
CERTIFICATION_SYSTEM = X12 + "1322"      # UM02 (Claim-update.fsh:33)
CATEGORY_SYSTEM = X12 + "1365"           # UM03 (Claim.fsh:214)
LEVEL_OF_SERVICE_SYSTEM = X12 + "1338"   # UM06 (Claim-update.fsh:47)
UNIT_SYSTEM = X12 + "673"                # HSD01 (Quantity.fsh:8)
REPORT_TYPE_SYSTEM = X12 + "755"         # PWK01 (Claim.fsh:358)
REASON_SYSTEM = "https://codesystem.x12.org/external/886"  # (Terminology.fsh:191)
PAS_TEMP_CODES = f"{BASE}/CodeSystem/PASTempCodes"
HCPCS_SYSTEM = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
POS_SYSTEM = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
LOINC_SYSTEM = "http://loinc.org"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ADJUDICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/adjudication"
RELATED_CLAIM_SYSTEM = "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship"
CLAIM_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/claim-type"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COVERAGE_CLASS_SYSTEM = "http://terminology.hl7.org/CodeSystem/coverage-class"

# Codes of the X12 lists that bhpolicy reads or writes. The code values are X12's; their full
# descriptions are licensed and are not reproduced.
CERTIFIED = "A1"      # certified in total
PENDED = "A4"         # pended
NOT_CERTIFIED = "A3"
MODIFIED = "A6"
# Certification types bhpolicy maps onto its request types; others are answered 422.
CERTIFICATION_REQUEST_TYPES = {"I": "initial", "R": "continued_stay", "4": "continued_stay"}
# Levels of service that make a request expedited (UM06: U urgent, 03 emergency).
EXPEDITED_LEVELS = frozenset({"U", "03"})
# Units of HSD01 a per diem or unit request may use: DY days, UN units (Quantity.fsh:8).
UNIT_CODES = frozenset({"DY", "UN"})
SUPPORTING_INFO_CATEGORIES = frozenset(
    {"patientEvent", "admissionDates", "dischargeDates", "additionalInformation",
     "freeFormMessage"})
CLAIM_TYPES = frozenset({"institutional", "professional", "oral"})  # Terminology.fsh:227-233
DIAGNOSIS_TYPES = frozenset({"admitting", "principal", "patientreasonforvisit"})

# Resource types a PAS request Bundle may carry here: those the PAS profiles reference
# (Claim.fsh:131-184, 320-335; Claim-update.fsh:182; Encounter.fsh). A type outside R4
# (fhir.resources parses R4B) or outside this list is refused by name.
REQUEST_RESOURCE_TYPES = frozenset({
    "Claim", "Patient", "Coverage", "Organization", "Practitioner", "PractitionerRole",
    "Location", "Encounter", "ServiceRequest", "DeviceRequest", "MedicationRequest",
    "NutritionOrder", "DocumentReference", "QuestionnaireResponse", "Condition", "Observation",
    "Procedure", "AllergyIntolerance", "DiagnosticReport", "Immunization", "Binary",
})
