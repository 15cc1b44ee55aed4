"""Which role may call which operation: one table for every route, checked for every request.

A route is the HTTP method and the path template as the application mounts it
("GET /api/v1/cards/{card_no}"). A route missing from `ACCESS` is refused to everybody
(deny by default) and fails `tests/core/test_access_matrix.py`, which walks every route of
the running application with every role. Adding a route is one line here.

The table answers "may this role call this operation at all". What a role may see through
an allowed operation (a holder their own cards, a bank its own cards, an employer agent its
own employees) is decided by the services, which answer 404 for records outside that scope.
See docs/access-control.md.
"""

from __future__ import annotations

from typing import Final

from yikatong.core.actor import Role
from yikatong.core.errors import Forbidden

H, SS, CO = Role.HOLDER, Role.SS_OUTLET, Role.CITIZEN_OUTLET
PA, EA, BANK = Role.PHONE_AGENT, Role.EMPLOYER_AGENT, Role.BANK
TO, ADMIN = Role.TRANSIT_OPERATOR, Role.ADMIN
MI, MO = Role.MEDICAL_INSTITUTION, Role.MEDICAL_OFFICE

REFUSED_BY_TABLE: Final = "role_not_allowed"  # the refusal's details.reason
PUBLIC: Final = frozenset({"public"})  # anyone, with or without a credential
SIGNED_IN: Final = frozenset(Role)     # any valid credential


def roles(*allowed: Role) -> frozenset[Role]:
    return frozenset(allowed)


API = "/api/v1"

CARD_READERS = roles(H, SS, CO, PA, BANK, ADMIN)
CARD_OPERATORS = roles(SS, CO, PA, BANK, ADMIN)
LOSS_REPORTERS = roles(H, PA, BANK, SS, CO, ADMIN)
BANK_STAFF = roles(BANK, ADMIN)
PEOPLE_READERS = roles(SS, CO, PA, ADMIN)
PEOPLE_OPERATORS = roles(SS, CO, ADMIN)
REGISTRARS = roles(SS, CO, EA, ADMIN)
OUTLET_OPERATOR = roles(SS, ADMIN)
CARD_CENTRE = roles(ADMIN)
TOP_UP = roles(H, CO, ADMIN)
RIDER_DESK = roles(CO, ADMIN)
TERMINALS = roles(SS, CO, BANK, TO, PA, ADMIN)
HOLDER_ONLY = roles(H)

ACCESS: Final[dict[str, frozenset]] = {
    # --- site root, documentation, public pages ---------------------------------------------
    "GET /": PUBLIC,
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,  # load balancers carry no credential (observability.health)
    "GET /metrics": roles(Role.MONITORING, ADMIN),  # the Prometheus scraper's API key
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /docs/oauth2-redirect": PUBLIC,
    "GET /redoc": PUBLIC,
    "GET /ecard/verify": PUBLIC,
    "POST /ecard/verify": PUBLIC,
    # --- auth --------------------------------------------------------------------------------
    f"POST {API}/auth/token": PUBLIC,
    f"GET {API}/auth/me": SIGNED_IN,
    f"POST {API}/auth/holders": PUBLIC,
    f"POST {API}/auth/holders/codes": PUBLIC,
    f"POST {API}/auth/users": CARD_CENTRE,
    f"POST {API}/auth/users/{{username}}/api-keys": CARD_CENTRE,
    f"GET {API}/auth/users/{{username}}/api-keys": CARD_CENTRE,
    f"POST {API}/auth/users/{{username}}/api-keys/{{key_id}}/rotate": CARD_CENTRE,
    f"DELETE {API}/auth/users/{{username}}/api-keys/{{key_id}}": CARD_CENTRE,
    f"POST {API}/auth/users/{{username}}/deactivate": CARD_CENTRE,
    f"POST {API}/auth/users/{{username}}/reactivate": CARD_CENTRE,
    f"POST {API}/auth/password": SIGNED_IN,
    f"POST {API}/auth/logout": SIGNED_IN,
    # --- real-name sign-in at the provider (the person has no account yet) -----------------
    f"POST {API}/oidc/login": PUBLIC,
    f"GET {API}/oidc/callback": PUBLIC,
    # --- holder notices (the SMS seam) --------------------------------------------------------
    f"GET {API}/notices/sms": CARD_CENTRE,
    f"GET {API}/notices/sms/outbox": CARD_CENTRE,  # development mode only (404 otherwise)
    # --- the phone on file: proof to change it ---------------------------------------------
    f"POST {API}/people/me/phone/code": HOLDER_ONLY,
    f"PUT {API}/people/me/phone": HOLDER_ONLY,
    f"PUT {API}/people/{{person_id}}/phone": PEOPLE_OPERATORS,
    # --- audit ---------------------------------------------------------------------------------
    f"GET {API}/audit/verifications/latest": CARD_CENTRE,
    # --- directory ---------------------------------------------------------------------------
    f"GET {API}/directory/banks": PUBLIC,
    f"GET {API}/directory/outlets": PUBLIC,
    f"GET {API}/directory/hotlines": PUBLIC,
    # --- people ------------------------------------------------------------------------------
    f"POST {API}/people/applicants": REGISTRARS,
    f"GET {API}/people": PEOPLE_READERS,
    f"POST {API}/people/id-numbers/check": roles(SS, CO, EA, PA, ADMIN),
    f"GET {API}/people/corrections": PEOPLE_OPERATORS,
    f"GET {API}/people/corrections/{{correction_id}}": PEOPLE_OPERATORS,
    f"POST {API}/people/corrections/{{correction_id}}/approve": PEOPLE_OPERATORS,
    f"POST {API}/people/corrections/{{correction_id}}/reject": PEOPLE_OPERATORS,
    f"GET {API}/people/reviews": PEOPLE_OPERATORS,
    f"GET {API}/people/reviews/{{review_id}}": PEOPLE_OPERATORS,
    f"POST {API}/people/reviews/{{review_id}}/resolve": PEOPLE_OPERATORS,
    f"POST {API}/people/reviews/{{review_id}}/approve": PEOPLE_OPERATORS,
    f"POST {API}/people/reviews/{{review_id}}/reject": PEOPLE_OPERATORS,
    f"GET {API}/people/{{person_id}}": roles(H, SS, CO, PA, EA, ADMIN),
    f"GET {API}/people/{{person_id}}/photo": roles(H, SS, CO, PA, ADMIN),
    # Readers who see records masked by default (people/privacy.py) ask to see one whole.
    f"POST {API}/people/{{person_id}}/disclosures": roles(CO, PA),
    f"PUT {API}/people/{{person_id}}/photo": roles(H, SS, CO, ADMIN),
    f"POST {API}/people/{{person_id}}/corrections": PEOPLE_OPERATORS,
    f"POST {API}/people/{{person_id}}/provincial-card-declarations": roles(SS, CO),
    # --- employers (an employer agent's scope: its employer's employees) ----------------------
    f"GET {API}/employers/links": roles(EA, ADMIN),
    f"POST {API}/employers/links/{{link_id}}/end": roles(EA, ADMIN),
    # --- applications ------------------------------------------------------------------------
    f"POST {API}/applications/production/batches": CARD_CENTRE,
    f"POST {API}/applications/production/batches/{{batch_id}}/collect": CARD_CENTRE,
    f"GET {API}/applications/production/batches/{{batch_id}}": CARD_CENTRE,
    f"POST {API}/applications": OUTLET_OPERATOR,
    f"POST {API}/applications/online": roles(H, ADMIN),
    f"POST {API}/applications/employer-batches": roles(EA, SS, ADMIN),
    f"GET {API}/applications/employer-batches/{{batch_id}}": roles(EA, SS, ADMIN),
    f"GET {API}/applications": OUTLET_OPERATOR,
    f"GET {API}/applications/{{application_id}}": roles(H, SS, EA, ADMIN),
    f"GET {API}/applications/{{application_id}}/face.png": roles(H, SS, ADMIN),
    f"POST {API}/applications/{{application_id}}/approve": OUTLET_OPERATOR,
    f"POST {API}/applications/{{application_id}}/reject": OUTLET_OPERATOR,
    f"POST {API}/applications/{{application_id}}/cancel": roles(H, SS, EA, ADMIN),
    f"POST {API}/applications/{{application_id}}/identity-resolved": OUTLET_OPERATOR,
    f"POST {API}/applications/{{application_id}}/ready-for-pickup": OUTLET_OPERATOR,
    f"POST {API}/applications/{{application_id}}/ship": CARD_CENTRE,
    f"POST {API}/applications/{{application_id}}/hand-over": roles(H, SS, ADMIN),
    # --- cards -------------------------------------------------------------------------------
    f"GET {API}/cards/expiry-reminders": CARD_OPERATORS,
    f"POST {API}/cards/bank-events": BANK_STAFF,
    f"GET {API}/cards": CARD_READERS,
    f"GET {API}/cards/{{card_no}}": CARD_READERS,
    f"GET {API}/cards/{{card_no}}/blocks": CARD_READERS,
    f"POST {API}/cards/{{card_no}}/loss": LOSS_REPORTERS,
    f"POST {API}/cards/{{card_no}}/unblock": LOSS_REPORTERS,
    f"POST {API}/cards/{{card_no}}/freeze": CARD_CENTRE,
    f"POST {API}/cards/{{card_no}}/unfreeze": CARD_CENTRE,
    f"POST {API}/cards/{{card_no}}/transfer-out": OUTLET_OPERATOR,
    f"POST {API}/cards/{{card_no}}/deceased": OUTLET_OPERATOR,
    f"POST {API}/cards/{{card_no}}/wallet-refund": RIDER_DESK,
    f"POST {API}/cards/{{card_no}}/financial-activation": BANK_STAFF,
    # --- e-card ------------------------------------------------------------------------------
    f"GET {API}/ecard/channels": PUBLIC,
    f"GET {API}/ecard/keys": PUBLIC,
    f"GET {API}/ecard/status/{{purpose}}": PUBLIC,
    f"POST {API}/ecard/verify": PUBLIC,
    f"POST {API}/ecard/redeem": TERMINALS,
    f"GET {API}/ecard/lookup": roles(SS, PA, ADMIN),
    f"GET {API}/ecard/me": HOLDER_ONLY,
    f"POST {API}/ecard/me/channels/{{channel}}/consent": HOLDER_ONLY,
    f"DELETE {API}/ecard/me/channels/{{channel}}/consent": HOLDER_ONLY,
    f"POST {API}/ecard/me/channels/{{channel}}/reauthorise": HOLDER_ONLY,
    f"PUT {API}/ecard/me/password": HOLDER_ONLY,
    f"POST {API}/ecard/me/password/reset": HOLDER_ONLY,
    f"POST {API}/ecard/me/password/reset/code": HOLDER_ONLY,
    f"POST {API}/ecard/qr": HOLDER_ONLY,
    f"GET {API}/ecard/qr.png": HOLDER_ONLY,
    f"GET {API}/ecard/qr.svg": HOLDER_ONLY,
    # --- partner banks (the reference bank's branch API) -------------------------------------
    f"POST {API}/banks/{{bank_code}}/accounts": BANK_STAFF,
    f"GET {API}/banks/{{bank_code}}/accounts/{{pan}}": BANK_STAFF,
    f"POST {API}/banks/{{bank_code}}/accounts/{{pan}}/activation": BANK_STAFF,
    f"POST {API}/banks/{{bank_code}}/accounts/{{pan}}/losses": BANK_STAFF,
    f"POST {API}/banks/{{bank_code}}/accounts/{{pan}}/unblock": BANK_STAFF,
    f"POST {API}/banks/{{bank_code}}/accounts/{{pan}}/deposits": BANK_STAFF,
    f"POST {API}/banks/{{bank_code}}/accounts/{{pan}}/card-transactions": BANK_STAFF,
    f"POST {API}/banks/{{bank_code}}/accounts/{{pan}}/online-payments": BANK_STAFF,
    f"POST {API}/banks/{{bank_code}}/accounts/{{pan}}/transfers": BANK_STAFF,
    f"POST {API}/banks/{{bank_code}}/accounts/{{pan}}/credits": BANK_STAFF,
    f"GET {API}/banks/{{bank_code}}/accounts/{{pan}}/transactions": BANK_STAFF,
    f"GET {API}/banks/{{bank_code}}/held-payments": BANK_STAFF,
    f"GET {API}/banks/{{bank_code}}/closure-tasks": BANK_STAFF,
    f"POST {API}/banks/{{bank_code}}/closure-tasks/{{task_id}}/complete": BANK_STAFF,
    # --- transit -----------------------------------------------------------------------------
    f"POST {API}/transit/top-ups": TOP_UP,
    f"GET {API}/transit/top-ups/{{order_no}}": TOP_UP,
    f"POST {API}/transit/contacts": TOP_UP,
    f"POST {API}/transit/contacts/{{contact_id}}/answers": TOP_UP,
    f"GET {API}/transit/contacts/{{contact_id}}": TOP_UP,
    f"GET {API}/transit/deny-list": roles(TO, CO, ADMIN),
    f"POST {API}/transit/wallet-refunds/unreadable": roles(SS, CO, ADMIN),
    f"GET {API}/transit/wallet-refunds/{{card_no}}": roles(H, CO, SS, ADMIN),
    f"POST {API}/transit/rider-grants": RIDER_DESK,
    f"GET {API}/transit/rider-grants": RIDER_DESK,
    f"POST {API}/transit/rider-grants/{{grant_id}}/revoke": RIDER_DESK,
    f"GET {API}/transit/rider-rewrites/refused": RIDER_DESK,
    f"POST {API}/transit/rider-rewrites/{{asn}}/reset": RIDER_DESK,
    # --- clearing ----------------------------------------------------------------------------
    f"POST {API}/clearing/batches": roles(TO, ADMIN),
    f"GET {API}/clearing/batches/{{file_id}}": roles(TO, ADMIN),
    f"GET {API}/clearing/exceptions": CARD_CENTRE,
    f"GET {API}/clearing/settlement/{{day}}": CARD_CENTRE,
    f"POST {API}/clearing/days/{{day}}/review": CARD_CENTRE,
    f"GET {API}/clearing/cards/{{asn}}/shadow-balance": RIDER_DESK,
    f"GET {API}/clearing/disagreements": CARD_CENTRE,
    # --- medical insurance: the designated institutions' national-style interface -----------
    # (one endpoint; the institution is the credential's branch_code = fixmedins_code)
    f"POST {API}/medical/fsi/api/rsfComIfsService/callService": roles(Role.MEDICAL_INSTITUTION),
    # --- pages for people (yikatong.pages; each domain's web.py) -----------------------------
    "GET /signin": PUBLIC,
    "POST /signin": PUBLIC,
    "POST /signout": SIGNED_IN,
    "GET /lang/{locale}": PUBLIC,
    # pages: the cardholder's own
    "GET /signup": PUBLIC,
    "POST /signup/code": PUBLIC,
    "POST /signup": PUBLIC,
    "GET /me": HOLDER_ONLY,
    "GET /me/apply": HOLDER_ONLY,
    "POST /me/apply": HOLDER_ONLY,
    "POST /me/apply/photo-check": HOLDER_ONLY,
    "GET /me/applications": HOLDER_ONLY,
    "POST /me/applications/{application_id}/cancel": HOLDER_ONLY,
    "GET /me/transit": HOLDER_ONLY,
    "POST /me/transit/top-ups": HOLDER_ONLY,
    "GET /me/medical/filings": HOLDER_ONLY,  # medical/filing_pages.py
    "POST /me/medical/filings": HOLDER_ONLY,
    "POST /me/medical/filings/{filing_id}/cancel": HOLDER_ONLY,
    "GET /me/bank": HOLDER_ONLY,
    "GET /me/cards/{card_no}/loss": HOLDER_ONLY,
    "POST /me/cards/{card_no}/loss": HOLDER_ONLY,
    "GET /me/cards/{card_no}/loss/{key}": HOLDER_ONLY,
    "GET /me/cards/{card_no}/unblock": HOLDER_ONLY,
    "POST /me/cards/{card_no}/unblock": HOLDER_ONLY,
    "GET /me/ecard": HOLDER_ONLY,
    "POST /me/ecard/channels/{channel}/consent": HOLDER_ONLY,
    "POST /me/ecard/channels/{channel}/withdraw": HOLDER_ONLY,
    "POST /me/ecard/password": HOLDER_ONLY,
    "POST /me/ecard/qr": HOLDER_ONLY,
    "GET /me/ecard/qr": HOLDER_ONLY,
    "GET /me/ecard/qr/code": HOLDER_ONLY,
    "GET /me/medical": HOLDER_ONLY,
    "GET /me/medical/settlements/{setl_id}": HOLDER_ONLY,
    "GET /me/children/{person_id}": HOLDER_ONLY,  # a guardian acting for a child under 16
    # pages: the outlet counter
    # (the employer batch upload: employer agents and social-security outlets, as the API)
    "GET /employer/batches": roles(EA, SS),
    "POST /employer/batches": roles(EA, SS),
    "GET /employer/batches/template.csv": roles(EA, SS),
    "GET /employer/batches/{batch_id}": roles(EA, SS),
    # pages: the outlet counter (applications.web, people.web; each as the API's own line)
    "GET /counter": roles(SS, CO),
    "GET /counter/people": roles(SS, CO),
    "POST /counter/people": roles(SS, CO),
    "GET /counter/people/{person_id}": roles(SS, CO),
    "POST /counter/people/{person_id}/disclosures": roles(CO),
    "POST /counter/people/{person_id}/corrections": roles(SS, CO),
    "GET /counter/reviews": roles(SS, CO),
    "POST /counter/reviews/{review_id}/resolve": roles(SS, CO),
    "POST /counter/reviews/{review_id}/approve": roles(SS, CO),
    "POST /counter/reviews/{review_id}/reject": roles(SS, CO),
    "GET /counter/corrections": roles(SS, CO),
    "POST /counter/corrections/{correction_id}/approve": roles(SS, CO),
    "POST /counter/corrections/{correction_id}/reject": roles(SS, CO),
    "GET /counter/applications/new": roles(SS),
    "POST /counter/applications": roles(SS),
    "POST /counter/checks/id-number": roles(SS),
    "POST /counter/checks/photo": roles(SS),
    "GET /counter/applications/{application_id}": roles(SS),
    "POST /counter/applications/{application_id}/approve": roles(SS),
    "POST /counter/applications/{application_id}/reject": roles(SS),
    "POST /counter/applications/{application_id}/ready-for-pickup": roles(SS),
    "POST /counter/applications/{application_id}/hand-over": roles(SS),
    "GET /counter/applications/{application_id}/face.png": roles(SS),
    "GET /counter/applications/{application_id}/proof": roles(SS),
    "GET /counter/exchange/{person_id}": roles(SS, CO),
    "POST /counter/exchange/{person_id}/unreadable": roles(SS, CO),
    # guardians are linked on documents at a social security card outlet (people.guardians)
    "GET /counter/people/{person_id}/guardians": roles(SS),
    "POST /counter/people/{person_id}/guardians": roles(SS),
    "POST /counter/guardians/{link_id}/end": roles(SS),
    # pages: the 12333 phone agent
    "GET /agent": roles(PA),
    "POST /agent/callers": roles(PA),
    "GET /agent/callers/{person_id}": roles(PA),
    "GET /agent/cards/{card_no}": roles(PA),
    "POST /agent/cards/{card_no}/loss": roles(PA),
    "POST /agent/cards/{card_no}/unblock": roles(PA),
    # pages: the card centre
    "GET /centre": CARD_CENTRE,
    "GET /centre/audit": CARD_CENTRE,
    "POST /centre/audit/verify": CARD_CENTRE,
    "GET /centre/reference/outlets": CARD_CENTRE,
    "GET /centre/reference/banks": CARD_CENTRE,
    "GET /centre/reference/fares": CARD_CENTRE,
    # --- the medical FHIR R4B door (medical.fhir_api): an institution sees its own patients'
    # visits only (a Claim names it as provider); the office reads and checks benefits -------
    "GET /api/fhir/r4b/metadata": PUBLIC,  # the CapabilityStatement, as FHIR servers do
    "POST /api/fhir/r4b/Claim": roles(MI),
    "GET /api/fhir/r4b/ClaimResponse/{claim_response_id}": roles(MI, MO),
    "GET /api/fhir/r4b/Coverage": roles(MI, MO),
    "POST /api/fhir/r4b/Coverage/_search": roles(MI, MO),
    "POST /api/fhir/r4b/CoverageEligibilityRequest": roles(MI, MO),
    # pages: medical insurance (medical.web): a designated institution's staff, the office
    "GET /medical/institution": roles(Role.MEDICAL_INSTITUTION),
    "GET /medical/institution/settlements/{setl_id}": roles(Role.MEDICAL_INSTITUTION),
    "GET /medical/office/people": roles(Role.MEDICAL_OFFICE),
    "POST /medical/office/people": roles(Role.MEDICAL_OFFICE),
    "GET /medical/office/people/{person_id}": roles(Role.MEDICAL_OFFICE),
    "POST /medical/office/people/{person_id}/disclosures": roles(Role.MEDICAL_OFFICE),
    "POST /medical/office/people/{person_id}/enrolments": roles(Role.MEDICAL_OFFICE),
    "POST /medical/office/people/{person_id}/retirement": roles(Role.MEDICAL_OFFICE),
    "GET /medical/office/day": roles(Role.MEDICAL_OFFICE),
    # --- medical: cross-region filing (异地就医备案), medical/crossregion_api.py ---------------
    f"POST {API}/medical/filings": roles(Role.MEDICAL_OFFICE, ADMIN),
    f"GET {API}/medical/people/{{person_id}}/filings": roles(Role.MEDICAL_OFFICE, ADMIN),
    f"GET {API}/medical/filings/{{filing_id}}": roles(Role.MEDICAL_OFFICE, ADMIN, H),
    f"POST {API}/medical/filings/{{filing_id}}/cancel": roles(Role.MEDICAL_OFFICE, ADMIN, H),
    f"POST {API}/medical/me/filings": HOLDER_ONLY,
    f"GET {API}/medical/me/filings": HOLDER_ONLY,
    # --- hrservices: HR services on the card (hrservices/api.py, hrservices/web.py) ----------
    # The holder's own cases, an outlet's cases for the card it read, the HR officer's review;
    # the card account read (三.4) is the HR system's alone (Role.HR_OFFICER, its API key).
    f"GET {API}/hr/services": roles(H, SS, CO, Role.HR_OFFICER, ADMIN),
    f"GET {API}/hr/me/cases": HOLDER_ONLY,
    f"POST {API}/hr/me/cases": HOLDER_ONLY,
    f"POST {API}/hr/cases": roles(SS, CO),
    f"GET {API}/hr/queue": roles(Role.HR_OFFICER, ADMIN),
    f"GET {API}/hr/cases/{{case_id}}": roles(H, SS, CO, Role.HR_OFFICER, ADMIN),
    f"POST {API}/hr/cases/{{case_id}}/documents": roles(H, SS, CO),
    f"GET {API}/hr/cases/{{case_id}}/documents/{{document_id}}": roles(H, SS, CO, Role.HR_OFFICER, ADMIN),
    f"POST {API}/hr/cases/{{case_id}}/submit": roles(H, SS, CO),
    f"POST {API}/hr/cases/{{case_id}}/withdraw": roles(H, SS, CO),
    f"POST {API}/hr/cases/{{case_id}}/claim": roles(Role.HR_OFFICER),
    f"POST {API}/hr/cases/{{case_id}}/request-documents": roles(Role.HR_OFFICER),
    f"POST {API}/hr/cases/{{case_id}}/approve": roles(Role.HR_OFFICER),
    f"POST {API}/hr/cases/{{case_id}}/refuse": roles(Role.HR_OFFICER),
    f"POST {API}/hr/card-accounts": roles(Role.HR_OFFICER),
    "GET /me/services": HOLDER_ONLY,
    "POST /me/services": HOLDER_ONLY,
    "GET /me/services/cases/{case_id}": HOLDER_ONLY,
    "POST /me/services/cases/{case_id}/documents": HOLDER_ONLY,
    "POST /me/services/cases/{case_id}/submit": HOLDER_ONLY,
    "POST /me/services/cases/{case_id}/withdraw": HOLDER_ONLY,
    "GET /hr/queue": roles(Role.HR_OFFICER),
    "GET /hr/cases/{case_id}": roles(Role.HR_OFFICER),
    "GET /hr/cases/{case_id}/documents/{document_id}": roles(Role.HR_OFFICER),
    "POST /hr/cases/{case_id}/claim": roles(Role.HR_OFFICER),
    "POST /hr/cases/{case_id}/request-documents": roles(Role.HR_OFFICER),
    "POST /hr/cases/{case_id}/approve": roles(Role.HR_OFFICER),
    "POST /hr/cases/{case_id}/refuse": roles(Role.HR_OFFICER),
    "GET /counter/services": roles(SS, CO),
    "POST /counter/services": roles(SS, CO),
    "GET /counter/services/cases/{case_id}": roles(SS, CO),
    "POST /counter/services/cases/{case_id}/documents": roles(SS, CO),
    "POST /counter/services/cases/{case_id}/submit": roles(SS, CO),
    # --- benefits: the pension's yearly eligibility confirmation (待遇资格认证) and the
    # recovery of pensions paid after death (benefits/certification_api.py, certification_web.py)
    f"GET {API}/benefits/pension/me": HOLDER_ONLY,
    f"POST {API}/benefits/pension/me/certifications": HOLDER_ONLY,
    f"POST {API}/benefits/pension/people/{{person_id}}/certifications": roles(SS, CO, ADMIN),
    f"GET {API}/benefits/pension/pensioners": roles(Role.PAYING_OFFICE, ADMIN),
    f"POST {API}/benefits/pension/pensioners": roles(Role.PAYING_OFFICE, ADMIN),
    f"GET {API}/benefits/pension/pensioners/{{person_id}}": roles(Role.PAYING_OFFICE, ADMIN),
    f"GET {API}/benefits/pension/recoveries": roles(Role.PAYING_OFFICE, ADMIN),
    f"POST {API}/benefits/pension/recoveries/collect": roles(Role.PAYING_OFFICE, ADMIN),
    "GET /me/pension": HOLDER_ONLY,
    "POST /me/pension/certify": HOLDER_ONLY,
    "GET /counter/pension": roles(SS, CO),
    "POST /counter/pension/{person_id}/certify": roles(SS, CO),
    "GET /office/pension": roles(Role.PAYING_OFFICE),
    "POST /office/pension/recoveries/collect": roles(Role.PAYING_OFFICE),
    # --- benefits: payee lists, disbursement runs (代发), the holder's payments
    # (benefits/disbursement_api.py, benefits/web.py); an office sees its own programmes only
    f"GET {API}/benefits/programmes": roles(Role.PAYING_OFFICE, ADMIN),
    f"POST {API}/benefits/enrolments": roles(Role.PAYING_OFFICE, ADMIN),
    f"POST {API}/benefits/programmes/{{programme}}/periods/{{period}}/payee-list": roles(Role.PAYING_OFFICE, ADMIN),
    f"POST {API}/benefits/programmes/{{programme}}/periods/{{period}}/payee-list/reference":
        roles(Role.PAYING_OFFICE, ADMIN),
    f"POST {API}/benefits/programmes/{{programme}}/periods/{{period}}/run": roles(Role.PAYING_OFFICE, ADMIN),
    f"GET {API}/benefits/runs": roles(Role.PAYING_OFFICE, ADMIN),
    f"GET {API}/benefits/programmes/{{programme}}/periods/{{period}}/run": roles(Role.PAYING_OFFICE, ADMIN),
    f"GET {API}/benefits/programmes/{{programme}}/periods/{{period}}/batches": roles(Role.PAYING_OFFICE, ADMIN),
    f"GET {API}/benefits/programmes/{{programme}}/periods/{{period}}/failures": roles(Role.PAYING_OFFICE, ADMIN),
    f"GET {API}/benefits/programmes/{{programme}}/periods/{{period}}/report": roles(Role.PAYING_OFFICE, ADMIN),
    f"GET {API}/benefits/me/payments": HOLDER_ONLY,
    "GET /me/payments": HOLDER_ONLY,
    "GET /office/runs": roles(Role.PAYING_OFFICE),
    "GET /office/runs/{programme}/{period}": roles(Role.PAYING_OFFICE),
    # --- bills: payments out of the card account (bills/api.py, bills/web.py) ----------------
    f"GET {API}/bills/me": roles(H, ADMIN),
    f"POST {API}/bills/me/flexible": HOLDER_ONLY,
    f"POST {API}/bills/me/residents": HOLDER_ONLY,
    f"POST {API}/bills/me/exams": HOLDER_ONLY,
    f"POST {API}/bills/{{bill_id}}/pay": HOLDER_ONLY,
    f"GET {API}/bills/me/receipts": roles(H, ADMIN),
    f"GET {API}/bills/me/mandates": roles(H, ADMIN),
    f"POST {API}/bills/me/mandates": HOLDER_ONLY,
    f"POST {API}/bills/mandates/{{mandate_id}}/revoke": roles(H, ADMIN),
    f"GET {API}/bills/receipts/{{receipt_no}}": roles(H, Role.BILLER, Role.PAYING_OFFICE,
                                                      Role.HR_OFFICER, MO, ADMIN),
    f"POST {API}/bills/receipts/{{receipt_no}}/refund": roles(Role.BILLER, Role.PAYING_OFFICE,
                                                             Role.HR_OFFICER, MO, ADMIN),
    f"POST {API}/bills/payee/bills": roles(Role.BILLER, ADMIN),
    f"GET {API}/bills/payee/bills": roles(Role.BILLER, Role.PAYING_OFFICE, Role.HR_OFFICER, MO, ADMIN),
    f"GET {API}/bills/payee/receipts": roles(Role.BILLER, Role.PAYING_OFFICE, Role.HR_OFFICER, MO,
                                             ADMIN),
    f"GET {API}/bills/exams": SIGNED_IN,
    f"POST {API}/bills/exams": roles(Role.HR_OFFICER, ADMIN),
    f"POST {API}/bills/exams/{{exam_code}}/cancel": roles(Role.HR_OFFICER, ADMIN),
    "GET /me/bills": HOLDER_ONLY,
    "POST /me/bills/declare": HOLDER_ONLY,
    "POST /me/bills/{bill_id}/pay": HOLDER_ONLY,
    "POST /me/bills/mandates": HOLDER_ONLY,
    "POST /me/bills/mandates/{mandate_id}/revoke": HOLDER_ONLY,
    "GET /me/bills/receipts/{receipt_no}": HOLDER_ONLY,
    "GET /payee/bills": roles(Role.BILLER, Role.PAYING_OFFICE, Role.HR_OFFICER, MO, ADMIN),
    "POST /payee/bills/receipts/{receipt_no}/refund": roles(Role.BILLER, Role.PAYING_OFFICE,
                                                            Role.HR_OFFICER, MO, ADMIN),
    "POST /payee/bills/exams/{exam_code}/cancel": roles(Role.HR_OFFICER, ADMIN),
    # --- library: the reader card and the reference library system (library/api.py, web.py) --
    f"GET {API}/library/me": HOLDER_ONLY,
    f"POST {API}/library/me/opt-in": HOLDER_ONLY,
    f"POST {API}/library/me/opt-out": HOLDER_ONLY,
    f"POST {API}/library/me/renewals": HOLDER_ONLY,
    f"GET {API}/library/items": roles(Role.LIBRARIAN, ADMIN),
    f"POST {API}/library/items": roles(Role.LIBRARIAN, ADMIN),
    f"GET {API}/library/items/{{barcode}}": roles(Role.LIBRARIAN, ADMIN),
    f"GET {API}/library/loans": roles(Role.LIBRARIAN, ADMIN),
    f"POST {API}/library/loans": roles(Role.LIBRARIAN, ADMIN),
    f"GET {API}/library/patrons/{{patron}}": roles(Role.LIBRARIAN, ADMIN),
    f"POST {API}/library/returns": roles(Role.LIBRARIAN, ADMIN),
    f"POST {API}/library/renewals": roles(Role.LIBRARIAN, ADMIN),
    f"POST {API}/library/holds": roles(Role.LIBRARIAN, ADMIN),
    f"POST {API}/library/fees": roles(Role.LIBRARIAN, ADMIN),
    f"POST {API}/library/fees/payments": roles(Role.LIBRARIAN, ADMIN),
    "GET /me/library": HOLDER_ONLY,
    "POST /me/library/opt-in": HOLDER_ONLY,
    "POST /me/library/opt-out": HOLDER_ONLY,
    "POST /me/library/renew": HOLDER_ONLY,
    "GET /library/desk": roles(Role.LIBRARIAN),
    "POST /library/desk/checkout": roles(Role.LIBRARIAN),
    "POST /library/desk/checkin": roles(Role.LIBRARIAN),
    "POST /library/desk/items": roles(Role.LIBRARIAN),
    "POST /library/desk/patron": roles(Role.LIBRARIAN),
    # --- tourism: venues, tickets, passes, entries (tourism/api.py, tourism/web.py) ----------
    # the venues, what they sell and the seats left are public information (a visitor plans)
    f"GET {API}/tourism/venues": PUBLIC,
    f"GET {API}/tourism/venues/{{venue_code}}": PUBLIC,
    f"GET {API}/tourism/products": PUBLIC,
    f"GET {API}/tourism/products/{{product_code}}/slots": PUBLIC,
    f"POST {API}/tourism/products": roles(Role.VENUE_OPERATOR, ADMIN),
    f"PUT {API}/tourism/venues/{{venue_code}}/free-categories": roles(Role.VENUE_OPERATOR, ADMIN),
    f"GET {API}/tourism/me/tickets": roles(H, ADMIN),
    f"POST {API}/tourism/me/tickets": HOLDER_ONLY,
    f"GET {API}/tourism/tickets/{{ticket_no}}": roles(H, Role.VENUE_OPERATOR, ADMIN),
    f"POST {API}/tourism/tickets/{{ticket_no}}/activate": roles(H, Role.VENUE_OPERATOR, ADMIN),
    f"POST {API}/tourism/tickets/{{ticket_no}}/refund": roles(H, Role.VENUE_OPERATOR, ADMIN),
    f"POST {API}/tourism/venues/{{venue_code}}/admit": roles(Role.VENUE_OPERATOR, ADMIN),
    f"GET {API}/tourism/venues/{{venue_code}}/entries": roles(Role.VENUE_OPERATOR, ADMIN),
    f"GET {API}/tourism/venues/{{venue_code}}/tickets": roles(Role.VENUE_OPERATOR, ADMIN),
    f"GET {API}/tourism/venues/{{venue_code}}/report": roles(Role.VENUE_OPERATOR, ADMIN),
    f"GET {API}/tourism/operators": PUBLIC,
    f"POST {API}/tourism/operators": CARD_CENTRE,
    f"POST {API}/tourism/venues": CARD_CENTRE,
    f"GET {API}/tourism/venues/{{venue_code}}/gates": roles(Role.VENUE_OPERATOR, ADMIN),
    f"POST {API}/tourism/venues/{{venue_code}}/gates": roles(Role.VENUE_OPERATOR, ADMIN),
    f"GET {API}/tourism/settlements": CARD_CENTRE,
    f"POST {API}/tourism/settlements": CARD_CENTRE,
    f"GET {API}/tourism/venues/{{venue_code}}/statement": roles(Role.VENUE_OPERATOR, ADMIN),
    "GET /me/tickets": roles(H),
    "POST /me/tickets/buy": HOLDER_ONLY,
    "POST /me/tickets/{ticket_no}/activate": HOLDER_ONLY,
    "POST /me/tickets/{ticket_no}/refund": HOLDER_ONLY,
    "GET /venue": roles(Role.VENUE_OPERATOR, ADMIN),
    "POST /venue/admit": roles(Role.VENUE_OPERATOR, ADMIN),
    "POST /venue/tickets/{ticket_no}/refund": roles(Role.VENUE_OPERATOR, ADMIN),
    # --- tourism gates and venue terminals (tourism/gate_api.py) --------------------------
    f"GET {API}/tourism/gates/{{venue_code}}/allow-list": roles(Role.VENUE_OPERATOR, ADMIN),
    f"POST {API}/tourism/gates/{{venue_code}}/entries": roles(Role.VENUE_OPERATOR, ADMIN),
    f"POST {API}/tourism/gates/{{venue_code}}/purchases": roles(Role.VENUE_OPERATOR, ADMIN),
    f"POST {API}/tourism/gates/{{venue_code}}/wallet-sales": roles(Role.VENUE_OPERATOR, ADMIN),
    # --- the development clock (not mounted in production) ----------------------------------
    f"GET {API}/dev/clock": SIGNED_IN,
    f"POST {API}/dev/clock": CARD_CENTRE,
    # --- discounts: campaigns, the till's redemptions, vouchers (discounts/api.py, web.py) ----
    f"GET {API}/discounts/campaigns": roles(Role.CAMPAIGN_SPONSOR, Role.MERCHANT, Role.VENUE_OPERATOR, H, ADMIN),
    f"POST {API}/discounts/campaigns": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    f"GET {API}/discounts/campaigns/{{campaign_code}}": roles(Role.CAMPAIGN_SPONSOR, Role.MERCHANT,
                                                                Role.VENUE_OPERATOR, H, ADMIN),
    f"POST {API}/discounts/campaigns/{{campaign_code}}/status": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    f"POST {API}/discounts/campaigns/{{campaign_code}}/merchants": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    f"GET {API}/discounts/campaigns/{{campaign_code}}/report": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    f"GET {API}/discounts/campaigns/{{campaign_code}}/chart.svg": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    f"POST {API}/discounts/campaigns/{{campaign_code}}/vouchers": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    f"POST {API}/discounts/campaigns/{{campaign_code}}/settlements": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    f"GET {API}/discounts/settlements": roles(Role.CAMPAIGN_SPONSOR, Role.MERCHANT, Role.VENUE_OPERATOR, ADMIN),
    f"POST {API}/discounts/settlements/{{settlement_id}}/paid": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    f"POST {API}/discounts/redemptions": roles(Role.MERCHANT),
    f"GET {API}/discounts/redemptions": roles(Role.MERCHANT, Role.CAMPAIGN_SPONSOR, ADMIN),
    f"POST {API}/discounts/redemptions/{{redemption_id}}/refund": roles(Role.MERCHANT, ADMIN),
    f"GET {API}/discounts/me/vouchers": roles(H, ADMIN),
    f"POST {API}/discounts/me/vouchers": HOLDER_ONLY,
    f"POST {API}/discounts/vouchers/expire": roles(ADMIN),
    "GET /sponsor/campaigns": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    "POST /sponsor/campaigns": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    "GET /sponsor/campaigns/{campaign_code}": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    "POST /sponsor/campaigns/{campaign_code}/merchants": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    "POST /sponsor/campaigns/{campaign_code}/status": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    "POST /sponsor/campaigns/{campaign_code}/settlements": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    "POST /sponsor/settlements/{settlement_id}/paid": roles(Role.CAMPAIGN_SPONSOR, ADMIN),
    "GET /merchant/discounts": roles(Role.MERCHANT),
    "POST /merchant/discounts/redeem": roles(Role.MERCHANT),
    "POST /merchant/discounts/{redemption_id}/refund": roles(Role.MERCHANT),
    "GET /me/vouchers": HOLDER_ONLY,
    "POST /me/vouchers": HOLDER_ONLY,
}


class RoleNotAllowed(Forbidden):
    """The access table does not let this role call this operation (or has no entry for it).
    The problem's code stays `forbidden` (what callers already handle); its details say
    `reason: role_not_allowed`, which tells it from the services' own refusals."""

    zh = "当前角色无权调用此接口"
    en = "Your role may not call this operation"

    def __init__(self) -> None:
        super().__init__(reason=REFUSED_BY_TABLE)


def operation(method: str, path: str) -> str:
    """The table's key for a route: "GET /api/v1/cards/{card_no}" (HEAD is GET's)."""
    return f"{'GET' if method == 'HEAD' else method} {path}"


def allowed_roles(method: str, path: str) -> frozenset | None:
    """PUBLIC, a set of roles, or None when the route has no entry (refused to everybody)."""
    return ACCESS.get(operation(method, path))
