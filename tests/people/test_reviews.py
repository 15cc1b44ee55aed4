"""Identity reviews, maker-checker: a merge into an existing person waits for a second
operator; a review attaches the applicant only to its candidates or a new person."""

from __future__ import annotations

import pytest

from tests.people.helpers import BORN, audit_actions, counts
from tests.people.test_api import applicant, problem
from yikatong.core.actor import Role
from yikatong.people.samples import make_citizen_ssn

pytestmark = pytest.mark.db

REVIEWS = "/api/v1/people/reviews"
OTHER_DOCUMENT = make_citizen_ssn("320404", BORN, "M", seq=3)


@pytest.fixture
def maker(login):
    return login(Role.SS_OUTLET, username="maker-op")


@pytest.fixture
def checker(login):
    return login(Role.CITIZEN_OUTLET, username="checker-op")


@pytest.fixture
def review(client, maker):
    """(review id, candidate person id): the same person under a second document."""
    candidate = client.post("/api/v1/people/applicants", headers=maker, json=applicant()).json()[
        "person_id"
    ]
    held = client.post(
        "/api/v1/people/applicants",
        headers=maker,
        json=applicant(document_type="temporary_id_card", document_number=OTHER_DOCUMENT),
    ).json()
    assert held["outcome"] == "manual_review"
    return held["review_id"], candidate


def test_a_merge_waits_for_a_second_operator(client, platform, maker, checker, review):
    review_id, candidate = review
    proposed = client.post(
        f"{REVIEWS}/{review_id}/resolve",
        headers=maker,
        json={"resolution": "merge", "reason": "same face, old card"},
    )
    assert proposed.status_code == 200, proposed.text
    assert (
        proposed.json()["status"],
        proposed.json()["proposed_person_id"],
        proposed.json()["resolved_person_id"],
    ) == ("pending_approval", candidate, None)
    assert counts(platform)["person_documents"] == 1  # nothing attached yet
    documents = counts(platform)
    refused = problem(
        client.post(f"{REVIEWS}/{review_id}/approve", headers=maker, json={}),
        403,
        "maker_cannot_approve",
    )
    assert "另一名经办人" in refused["title"]
    assert counts(platform) == documents
    problem(
        client.post(
            f"{REVIEWS}/{review_id}/resolve",
            headers=checker,
            json={"resolution": "distinct", "reason": "x"},
        ),
        409,
        "review_awaiting_approval",
    )
    approved = client.post(f"{REVIEWS}/{review_id}/approve", headers=checker, json={})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (
        body["status"],
        body["resolved_person_id"],
        body["resolved_by"],
        body["proposed_by"],
    ) == ("merged", candidate, "checker-op", "maker-op")
    assert counts(platform)["person_documents"] == 2
    assert audit_actions(platform, "identity_review", review_id) == [
        "identity_review.open",
        "identity_review.merge_proposed",
        "identity_review.merged",
    ]
    problem(
        client.post(f"{REVIEWS}/{review_id}/approve", headers=checker, json={}),
        409,
        "review_not_awaiting_approval",
    )


def test_a_rejected_merge_leaves_the_review_open(client, platform, maker, checker, review):
    review_id, _candidate = review
    client.post(
        f"{REVIEWS}/{review_id}/resolve",
        headers=maker,
        json={"resolution": "merge", "reason": "looks alike"},
    )
    problem(
        client.post(f"{REVIEWS}/{review_id}/reject", headers=maker, json={"reason": "mine"}),
        403,
        "maker_cannot_approve",
    )
    problem(
        client.post(f"{REVIEWS}/{review_id}/reject", headers=checker, json={}),
        422,
        "invalid_person_data",
    )
    rejected = client.post(
        f"{REVIEWS}/{review_id}/reject", headers=checker, json={"reason": "birth place differs"}
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "open"
    assert rejected.json()["proposed_person_id"] is None
    assert counts(platform)["person_documents"] == 1
    distinct = client.post(
        f"{REVIEWS}/{review_id}/resolve",
        headers=checker,
        json={"resolution": "distinct", "reason": "namesakes"},
    )
    assert distinct.json()["status"] == "distinct"  # a new person needs no second operator
    assert audit_actions(platform, "identity_review", review_id) == [
        "identity_review.open",
        "identity_review.merge_proposed",
        "identity_review.merge_rejected",
        "identity_review.distinct",
    ]


def test_a_review_attaches_only_to_its_candidates(client, platform, maker, review):
    review_id, candidate = review
    stranger = client.post(
        "/api/v1/people/applicants",
        headers=maker,
        json=applicant(
            name="王芳", gender="F", document_number=make_citizen_ssn("320402", BORN, "F", seq=8)
        ),
    )
    stranger_id = stranger.json()["person_id"]
    before = counts(platform)
    refused = problem(
        client.post(
            f"{REVIEWS}/{review_id}/resolve",
            headers=maker,
            json={"resolution": "merge", "reason": "x", "person_id": stranger_id},
        ),
        422,
        "not_a_review_candidate",
    )
    assert refused["details"]["allowed_person_ids"] == [candidate]
    problem(
        client.post(
            f"{REVIEWS}/{review_id}/resolve",
            headers=maker,
            json={"resolution": "distinct", "reason": "x", "person_id": candidate},
        ),
        422,
        "not_a_review_candidate",
    )
    assert counts(platform) == before
    named = client.post(
        f"{REVIEWS}/{review_id}/resolve",
        headers=maker,
        json={"resolution": "merge", "reason": "the candidate", "person_id": candidate},
    )
    assert named.json()["proposed_person_id"] == candidate


def test_an_employer_agent_cannot_decide_reviews(client, login, review):
    review_id, _candidate = review
    agent = login(Role.EMPLOYER_AGENT, employer_uscc=None)
    problem(client.post(f"{REVIEWS}/{review_id}/approve", headers=agent, json={}), 403, "forbidden")
