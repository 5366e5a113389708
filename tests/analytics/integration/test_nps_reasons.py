"""NPS with the reasons grouped (issue 19.4): the projector opens each sealed reason with the customer's key,
keeps its terms (stop words removed), and ``/v1/kpis/nps/reasons`` shows the top words and phrases per band,
per period and per segment. Erasure takes a customer's reasons out of what analytics shows. Real PostgreSQL,
through the consumer kit's decode, key and inbox path."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.analytics.config import AnalyticsSettings
from services.analytics.domain.model import Fact
from shared.consuming.consumer import apply_records
from shared.contracts.campaigns import NpsCategory, QuestionKind, SurveyAnswered, SurveyKind, SurveyQuestionAnswered
from shared.events.envelope import source_for
from shared.shredding import encrypt_value
from shared.testing.clock import FixedClock
from tests.analytics.builders import (
    at,
    complaint_filed,
    erased,
    fact,
    new_customer_id,
    order_placed,
    registered,
)
from tests.analytics.integration.support import api, projector, records, token

WINDOW = {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}


class Keys:
    """The campaigns service's data keys as the analytics projector would fetch them (``keys:read``)."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}

    def of(self, customer_id: str) -> bytes:
        return self.keys.setdefault(customer_id, AESGCM.generate_key(bit_length=256))

    async def keys_for(self, source: str, subjects: set[str]) -> Mapping[str, bytes]:
        return {s: self.keys[s] for s in subjects if s in self.keys and source == source_for("campaigns")}


def answered(keys: Keys, cid: str, score: int, when: datetime, reason: str | None) -> list[Fact]:
    """An NPS survey answered: SurveyAnswered, the score question, and the reason sealed as campaigns seals it."""
    survey = str(uuid.uuid4())
    category = NpsCategory.PROMOTER if score >= 9 else NpsCategory.PASSIVE if score >= 7 else NpsCategory.DETRACTOR
    common: dict[str, Any] = {"survey_id": survey, "customer_id": cid, "survey_kind": SurveyKind.NPS,
                              "nps_category": category}
    facts = [
        fact(SurveyAnswered(survey_id=survey, customer_id=cid, kind=SurveyKind.NPS, score=score, comment=None,
                            nps_category=category), when),
        fact(SurveyQuestionAnswered(**common, question_id="score", question_kind=QuestionKind.NPS, score=score,
                                    text=None), when),
    ]
    if reason is not None:
        sealed = encrypt_value(keys.of(cid), cid, "text", reason)
        facts.append(fact(SurveyQuestionAnswered(**common, question_id="reason", question_kind=QuestionKind.TEXT,
                                                 text=sealed), when))
    return facts


async def project(settings: AnalyticsSettings, pool: Any, keys: Keys, facts: list[Fact]) -> None:
    assert await apply_records(pool, projector(settings), records(facts), keys=keys) == []


async def reasons(settings: AnalyticsSettings, **params: Any) -> dict[str, Any]:
    async with api(settings, FixedClock(at(70))) as client:
        response = await client.get("/v1/kpis/nps/reasons", params={**WINDOW, **params}, headers=token(settings))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def top(block: dict[str, Any]) -> list[tuple[str, int]]:
    return [(t["term"], t["mentions"]) for t in block["top"]]


async def test_reasons_are_grouped_per_band_period_and_segment_as_words_and_phrases(settings, pool) -> None:
    keys = Keys()
    rich, poor, quiet = new_customer_id(), new_customer_id(), new_customer_id()
    await project(settings, pool, keys, [
        registered(rich, at(0)), order_placed(rich, at(1), total="9000.00", margin="6000.00"),
        registered(poor, at(0)), *(complaint_filed(poor, str(uuid.uuid4()), at(1, n)) for n in range(3)),
        registered(quiet, at(0)),
        *answered(keys, rich, 10, at(2), "Fast delivery and a very friendly agent"),
        *answered(keys, poor, 2, at(3), "The courier lost my parcel. Late delivery, twice!"),
        *answered(keys, quiet, 9, at(40), "Fast delivery"),
        *answered(keys, quiet, 8, at(41), None),  # a score without a reason
    ])
    body = await reasons(settings, period="month")
    assert (body["nps"], body["responses"]) == ("25.0", 4)
    overall = body["reasons"]
    assert overall["promoter"]["answers"] == 2 and overall["detractor"]["answers"] == 1
    assert overall["passive"] == {"answers": 0, "top": []}
    assert top(overall["promoter"])[:3] == [("delivery", 2), ("fast", 2), ("fast delivery", 2)]
    detractor_terms = dict(top(overall["detractor"]))
    assert detractor_terms["late delivery"] == 1 and detractor_terms["courier lost"] == 1
    assert not {"the", "my", "and", "very", "parcel late", "delivery twice"} & set(detractor_terms)
    assert next(t for t in overall["promoter"]["top"] if t["term"] == "fast delivery")["phrase"] is True

    january, february = body["by_period"]
    assert (january["period"], january["responses"], january["nps"]) == ("2026-01-01T00:00:00.000000Z", 2, "0.0")
    assert january["reasons"]["promoter"]["answers"] == 1 and january["reasons"]["detractor"]["answers"] == 1
    assert (february["responses"], february["reasons"]["promoter"]["answers"]) == (2, 1)

    segments = {s["segment"]: s for s in body["by_segment"]}
    assert set(segments) == {"high_value", "serial_complainer"}
    assert top(segments["serial_complainer"]["reasons"]["detractor"])[0] == ("courier", 1)
    assert segments["high_value"]["reasons"]["detractor"]["answers"] == 0

    only = await reasons(settings, segment="serial_complainer", top=2)
    assert (only["responses"], only["nps"], only["segment"]) == (1, "-100.0", "serial_complainer")
    assert [s["segment"] for s in only["by_segment"]] == ["serial_complainer"]
    assert len(only["reasons"]["detractor"]["top"]) == 2 and only["reasons"]["promoter"]["answers"] == 0

    # the text itself is not kept by the KPI: terms only
    stored = await pool.fetch("select terms from nps_reasons")
    assert all("The courier lost my parcel" not in " ".join(r["terms"]) for r in stored)


async def test_a_reason_analytics_may_not_open_is_not_counted(settings, pool) -> None:
    keys = Keys()
    cid = new_customer_id()
    facts = [registered(cid, at(0)), *answered(keys, cid, 3, at(1), "Rude staff")]
    keys.keys.clear()  # the key is not available to analytics (not entitled, or destroyed)
    await project(settings, pool, keys, facts)
    body = await reasons(settings)
    assert body["detractors"] == 1 and body["reasons"]["detractor"] == {"answers": 0, "top": []}


async def test_erasure_takes_a_customers_reasons_out_of_what_analytics_shows(settings, pool) -> None:
    keys = Keys()
    forgotten, kept, same_batch = new_customer_id(), new_customer_id(), new_customer_id()
    await project(settings, pool, keys, [
        registered(forgotten, at(0)), *answered(keys, forgotten, 1, at(1), "Ahmet Yilmaz ruined my wedding cake"),
        registered(kept, at(0)), *answered(keys, kept, 4, at(1), "Cake arrived broken"),
    ])
    assert dict(top((await reasons(settings))["reasons"]["detractor"]))["wedding cake"] == 1

    await project(settings, pool, keys, [erased(forgotten, at(5))])
    # a reason and the erasure in one batch (a late topic): the reason never shows either
    await project(settings, pool, keys, [registered(same_batch, at(0)),
                                         *answered(keys, same_batch, 0, at(6), "Zeynep Kaya was rude"),
                                         erased(same_batch, at(7))])
    detractor = (await reasons(settings))["reasons"]["detractor"]
    terms = dict(top(detractor))
    assert detractor["answers"] == 1 and terms["cake"] == 1
    assert not {"ahmet", "yilmaz", "wedding", "zeynep", "kaya", "rude"} & set(terms)
    assert await pool.fetchval("select count(*) from nps_reasons where customer_id = any($1::uuid[])",
                               [forgotten, same_batch]) == 0
    # the scores still count (anonymous facts), only what the customer wrote is gone
    assert (await reasons(settings))["detractors"] == 3


@pytest.mark.parametrize("params", [
    {"from": "2026-03-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    {"top": "0"},
    {"top": "51"},
    {"segment": "vip"},
    {"period": "decade"},
    {"from": "2026-01-01T00:00:00"},
])
async def test_bad_parameters_are_a_422_problem(settings, pool, params: dict[str, str]) -> None:
    async with api(settings, FixedClock(at(70))) as client:
        response = await client.get("/v1/kpis/nps/reasons", params={**WINDOW, **params}, headers=token(settings))
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        refused = await client.get("/v1/kpis/nps/reasons", params=WINDOW)
        assert refused.status_code == 401
