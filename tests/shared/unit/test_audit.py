"""The audit trail's pure parts: the query's rules, the cursor, and the merge of every service's part."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.errors import InvalidInput
from shared.events.envelope import format_time
from shared.web.audit import AuditQuery, Cursor, merge, where_clause

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def an_entry(service: str, minute: int) -> dict[str, Any]:
    return {"service": service, "occurred_at": format_time(T0 + timedelta(minutes=minute)),
            "event_id": str(uuid.UUID(int=minute * 10 + len(service)))}


def test_a_trail_is_about_someone_and_its_bounds_make_sense() -> None:
    with pytest.raises(InvalidInput):
        AuditQuery()
    with pytest.raises(InvalidInput):
        AuditQuery(actor="a", since=T0, until=T0)
    with pytest.raises(InvalidInput):
        AuditQuery(actor="a", limit=0)
    assert AuditQuery(actor="a", since=T0, until=T0 + timedelta(seconds=1)).limit == 100


def test_a_cursor_comes_back_as_it_went_and_anything_else_is_refused() -> None:
    cursor = Cursor(T0, uuid.uuid4())
    assert Cursor.decode(cursor.encode()) == cursor
    for bad in ("", "not-a-cursor", "Zm9v", cursor.encode()[:-3]):
        with pytest.raises(InvalidInput):
            Cursor.decode(bad)


def test_only_the_conditions_asked_are_in_the_filter() -> None:
    where, args = where_clause(AuditQuery(actor="agent-ayse"))
    assert (where, args) == ("metadata->>'actor' = $1", ["agent-ayse"])
    campaign = uuid.uuid4()
    where, args = where_clause(AuditQuery(campaign_id=campaign, since=T0))
    assert where == "(stream_id = $1 or subject = $1) and occurred_at >= $2" and args == [str(campaign), T0]


def test_the_merge_takes_the_oldest_across_services_and_says_where_to_go_on() -> None:
    customer = [an_entry("customer", m) for m in (1, 4, 6)]
    ticketing = [an_entry("ticketing", m) for m in (2, 3, 5)]
    page = merge([customer, ticketing], limit=3)
    assert [e["occurred_at"] for e in page["entries"]] == [format_time(T0 + timedelta(minutes=m)) for m in (1, 2, 3)]
    after = Cursor.decode(page["next_cursor"])
    assert (after.occurred_at, str(after.event_id)) == (T0 + timedelta(minutes=3), ticketing[1]["event_id"])


def test_the_last_page_has_no_cursor() -> None:
    page = merge([[an_entry("customer", 1)], [an_entry("analytics", 2)]], limit=3)
    assert len(page["entries"]) == 2 and page["next_cursor"] is None


def test_the_forwarded_query_names_the_same_instants_even_in_early_years() -> None:
    """strftime writes year 204 as '204', which the other services rightly refuse (found by fuzzing)."""
    early = datetime(204, 4, 25, 18, 41, 26, tzinfo=UTC)
    params = AuditQuery(actor="a", since=early, after=Cursor(early, uuid.UUID(int=1))).params()
    assert datetime.fromisoformat(params["since"]) == early
    assert Cursor.decode(params["cursor"]).occurred_at == early
