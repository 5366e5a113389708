"""Surveys that ask why, through the campaigns API against real PostgreSQL (the clock pinned).

A survey asks the score, then the main reason (free text sealed under the customer's key), then any
extra question; each answer is an event. Relationship surveys: at most once per period, never during an
open complaint. Bad input is a 4xx problem and changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from services.campaigns.bootstrap import build_app
from services.campaigns.config import CampaignsSettings
from shared.settings import PlatformSettings
from shared.shredding import KeyStore, is_encrypted
from shared.testing.clock import FixedClock
from shared.web import mint_token

pytestmark = pytest.mark.clock

START = datetime(2026, 3, 2, 10, tzinfo=UTC)  # a Monday morning, outside any quiet hours


@dataclass
class Api:
    staff: httpx.AsyncClient
    public: httpx.AsyncClient
    clock: FixedClock
    dsn: str

    async def rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.set_type_codec("jsonb", encoder=orjson.dumps, decoder=orjson.loads, schema="pg_catalog",
                                      format="text")
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def counts(self) -> tuple[int, int, int]:
        """Events, surveys and answered questions: what a refused request must leave unchanged."""
        (row,) = await self.rows("""select (select count(*) from events) as e, (select count(*) from surveys) as s,
                                           (select count(*) from survey_question_answers) as a""")
        return row["e"], row["s"], row["a"]


@pytest.fixture
async def api(make_database: Callable[..., Awaitable[str]], platform_settings: PlatformSettings) -> AsyncIterator[Api]:
    dsn = await make_database("campaigns")
    settings = CampaignsSettings(**platform_settings.model_dump(), database_url=dsn)
    clock = FixedClock(START)
    app = build_app(settings, clock=clock)
    token = mint_token(settings, "tester", ["campaigns:read", "campaigns:write"])
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {token}"},
    ) as staff, httpx.AsyncClient(transport=transport, base_url="http://test") as public:
        yield Api(staff, public, clock, dsn)


async def send(api: Api, **body: Any) -> httpx.Response:
    return await api.staff.post("/v1/surveys", json={"customer_id": "c-1", "kind": "nps", **body})


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


async def test_an_nps_survey_asks_the_score_then_the_reason_then_the_extras(api: Api) -> None:
    extra = {"id": "channel", "kind": "choice", "prompt": "How do you shop with us?", "options": ["web", "app"]}
    sent = await send(api, questions=[extra, {"id": "delivery", "kind": "csat", "prompt": "The delivery?"}])
    assert sent.status_code == 201, sent.text
    survey = sent.json()
    assert [(q["id"], q["kind"]) for q in survey["questions"]] == [
        ("score", "nps"), ("reason", "text"), ("channel", "choice"), ("delivery", "csat")]
    assert survey["questions"][1]["prompt"] == "What is the main reason for your score?"

    url = f"/v1/surveys/{survey['id']}"
    token = survey["response_token"]
    too_early = await api.public.post(f"{url}/answers", json={"token": token, "question_id": "reason",
                                                              "text": "late"})
    problem(too_early, 409)  # the score comes first

    scored = await api.public.post(f"{url}/responses", json={"token": token, "score": 4,
                                                             "answers": [{"question_id": "channel", "choice": "app"}]})
    assert scored.status_code == 201, scored.text
    assert scored.json()["remaining"] == ["reason", "delivery"]
    why = await api.public.post(f"{url}/answers", json={"token": token, "question_id": "reason",
                                                        "text": "  The courier lost my parcel twice  "})
    assert why.status_code == 201, why.text
    assert why.json() == {"survey_id": survey["id"], "question_id": "reason",
                          "answered": ["channel", "reason", "score"], "remaining": ["delivery"]}
    delivery = await api.public.post(f"{url}/answers", json={"token": token, "question_id": "delivery", "score": 2})
    assert delivery.json()["remaining"] == []

    events = await api.rows("select event_type, data from events where stream_id = $1 order by version",
                            f"survey-{survey['id']}")
    assert [e["event_type"] for e in events] == ["SurveySent", "SurveyAnswered", "SurveyQuestionAnswered",
                                                 "SurveyQuestionAnswered", "SurveyQuestionAnswered",
                                                 "SurveyQuestionAnswered"]
    assert events[1]["data"]["nps_category"] == "detractor" and events[1]["data"]["comment"] is None
    answers = {e["data"]["question_id"]: e["data"] for e in events[2:]}
    assert answers["score"]["score"] == 4 and answers["channel"]["choice"] == "app"
    assert answers["delivery"]["score"] == 2
    reason = answers["reason"]
    assert reason["nps_category"] == "detractor"
    # the reason's text is sealed under the customer's key: never in clear in the log or the outbox
    assert is_encrypted(reason["text"])
    outbox = await api.rows("select convert_from(payload, 'UTF8') as p from outbox")
    assert not any("courier" in r["p"] for r in outbox)
    conn = await asyncpg.connect(api.dsn)
    try:
        await KeyStore().destroy(conn, "c-1")  # the customer is erased: the text can never be read again
    finally:
        await conn.close()

    detail = await api.staff.get(url)
    assert detail.status_code == 200
    body = detail.json()
    assert (body["status"], body["score"]) == ("answered", 4)
    facts = {a["question_id"]: a for a in body["answers"]}
    assert facts["reason"]["text_sealed"] is True and facts["channel"]["choice"] == "app"
    assert "courier" not in detail.text


async def test_a_reason_given_with_the_score_is_one_more_event_and_each_question_is_answered_once(api: Api) -> None:
    survey = (await send(api)).json()
    url = f"/v1/surveys/{survey['id']}"
    token = survey["response_token"]
    answered = await api.public.post(f"{url}/responses", json={"token": token, "score": 10,
                                                               "comment": "Fast and friendly"})
    assert answered.status_code == 201, answered.text
    assert answered.json()["answered"] == ["reason", "score"]
    before = await api.counts()
    problem(await api.public.post(f"{url}/answers", json={"token": token, "question_id": "reason", "text": "x"}),
            409)
    assert await api.counts() == before


@pytest.mark.parametrize(("body", "field"), [
    ({"question_id": "reason", "score": 3}, "text"),        # a reason is text
    ({"question_id": "reason", "text": "   "}, "text"),     # blank
    ({"question_id": "nothing", "text": "x"}, "question_id"),
    ({"question_id": "channel", "choice": "fax"}, "choice"),
    ({"question_id": "delivery", "score": 9}, "score"),     # csat is 1-5
])
async def test_a_bad_answer_is_a_422_and_changes_nothing(api: Api, body: dict[str, Any], field: str) -> None:
    extra = [{"id": "channel", "kind": "choice", "prompt": "Where?", "options": ["web", "app"]},
             {"id": "delivery", "kind": "csat", "prompt": "The delivery?"}]
    survey = (await send(api, questions=extra)).json()
    url = f"/v1/surveys/{survey['id']}"
    assert (await api.public.post(f"{url}/responses", json={"token": survey["response_token"], "score": 8})
            ).status_code == 201
    before = await api.counts()
    assert problem(await api.public.post(f"{url}/answers", json={"token": survey["response_token"], **body}),
                   422)["field"] == field
    assert await api.counts() == before


async def test_bad_survey_answers_and_tokens_are_refused_without_a_trace(api: Api) -> None:
    survey = (await send(api)).json()
    url = f"/v1/surveys/{survey['id']}"
    token = survey["response_token"]
    before = await api.counts()
    problem(await api.public.post(f"{url}/responses", json={"token": token, "score": 7, "comment": "a",
                                                             "reason": "b"}), 422)
    problem(await api.public.post(f"{url}/responses", json={"token": token, "score": 7,
                                                             "answers": [{"question_id": "reason", "choice": "x"}]}),
            422)
    problem(await api.public.post(f"{url}/answers", json={"token": "nope", "question_id": "reason", "text": "x"}),
            403)
    problem(await api.public.post("/v1/surveys/not-a-uuid/answers",
                                  json={"token": token, "question_id": "reason", "text": "x"}), 404)
    api.clock.advance(timedelta(days=15))
    problem(await api.public.post(f"{url}/responses", json={"token": token, "score": 7}), 410)
    assert await api.counts() == before


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"purpose": "transactional"}, 422, "ticket_id"),
    ({"purpose": "transactional", "ticket_id": "t-1", "order_id": "o-1"}, 422, "ticket_id"),
    ({"purpose": "relationship", "order_id": "o-1"}, 422, "order_id"),
    ({"questions": [{"id": "score", "kind": "csat", "prompt": "Again?"}]}, 422, "questions.0.id"),
    ({"questions": [{"id": "pick", "kind": "choice", "prompt": "Which?", "options": ["a"]}]}, 422,
     "questions.0.options"),
    ({"questions": [{"id": "why", "kind": "text", "prompt": "Why?"}]}, 422, "questions.0.kind"),
    ({"period_days": 0}, 422, None),
])
async def test_a_bad_survey_request_is_a_4xx_and_sends_nothing(api: Api, body: dict[str, Any], status: int,
                                                                field: str | None) -> None:
    before = await api.counts()
    refused = problem(await send(api, **body), status)
    if field is not None:
        assert refused["field"] == field
    assert await api.counts() == before


async def test_a_relationship_survey_asks_a_customer_at_most_once_per_period(api: Api) -> None:
    first = await send(api, purpose="relationship", period_days=90)
    assert first.status_code == 201, first.text
    assert first.json()["purpose"] == "relationship"

    api.clock.advance(timedelta(days=89, hours=23))
    before = await api.counts()
    refused = problem(await send(api, purpose="relationship", period_days=90), 409)
    assert refused["current_status"] == "frequency_cap"
    assert refused["next_allowed_at"] == (START + timedelta(days=90)).isoformat()
    assert await api.counts() == before
    # another customer, and a transactional survey to the same one, are not held by it
    assert (await send(api, customer_id="c-2", purpose="relationship")).status_code == 201
    assert (await send(api, purpose="transactional", order_id="o-1")).status_code == 201

    api.clock.advance(timedelta(hours=1))  # 90 days after the first
    assert (await send(api, purpose="relationship", period_days=90)).status_code == 201


async def test_no_relationship_survey_during_an_open_complaint(api: Api) -> None:
    rows = await api.rows("insert into customer_replica (customer_id, registered, open_complaints) "
                          "values ('c-1', true, array['t-9']) returning customer_id")
    assert rows
    refused = problem(await send(api, purpose="relationship"), 409)
    assert refused["current_status"] == "service_recovery_hold"
    # asking about the complaint itself waits until it is resolved
    assert problem(await send(api, purpose="transactional", ticket_id="t-9"), 409)["current_status"] == "open"
    await api.rows("update customer_replica set open_complaints = '{}' where customer_id = 'c-1'")
    assert (await send(api, purpose="relationship")).status_code == 201
    assert (await send(api, purpose="transactional", ticket_id="t-9")).status_code == 201
