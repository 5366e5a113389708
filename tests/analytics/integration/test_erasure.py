"""Analytics forgets an erased customer, even when their other events arrive late, and says so once."""

from __future__ import annotations

import uuid

from services.analytics.application.projector import AnalyticsProjector
from services.analytics.bootstrap import event_store
from shared.consumer import apply_records
from tests.analytics.builders import at, erased, new_customer_id, registered, ticket_opened
from tests.analytics.integration.support import records


async def test_late_events_of_an_erased_customer_keep_no_personal_data_and_one_ack_is_sent(settings, pool) -> None:
    projector = AnalyticsProjector(rules=settings.rules, store=event_store(settings))
    cid = new_customer_id()
    erasure = records([registered(cid, at(0)), erased(cid, at(2))])
    assert await apply_records(pool, projector, erasure) == []
    late = records([ticket_opened(cid, str(uuid.uuid4()), at(1))])  # ticketing.events lagged behind
    assert await apply_records(pool, projector, late) == []
    assert await apply_records(pool, projector, erasure) == []  # redelivered: no second ack

    subjects = await pool.fetch(
        "select data->>'subject' as subject from customer_events where event_type = 'TicketOpened'"
    )
    assert [r["subject"] for r in subjects] == [None]
    acks = await pool.fetch(
        "select data from public.events where event_type = 'CustomerDataErased' and subject = $1", cid
    )
    assert len(acks) == 1
    assert acks[0]["data"]["service"] == "analytics"
