"""HL7 Da Vinci Prior Authorization Support (PAS 2.2.1, FHIR R4 4.0.1) over bhpolicy's
requests: request Bundle checks, mapping onto services' RequestCreate, ClaimResponse building,
$inquire matching, Questionnaires from facts.yaml. Framework-free: web/fhir_api.py serves it."""
