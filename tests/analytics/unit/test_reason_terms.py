"""The terms of an NPS reason: words and two-word phrases, stop words and punctuation breaking phrases."""

from __future__ import annotations

from services.analytics.domain.reasons import MAX_TERMS_PER_REASON, reason_terms


def test_words_and_phrases_without_stop_words_each_once() -> None:
    assert reason_terms("The courier lost my parcel. Late delivery, late delivery!") == [
        "courier", "lost", "courier lost", "parcel", "late", "delivery", "late delivery"]


def test_a_stop_word_or_punctuation_breaks_a_phrase() -> None:
    assert reason_terms("late for delivery") == ["late", "delivery"]
    assert reason_terms("late, delivery") == ["late", "delivery"]


def test_case_apostrophes_digits_and_turkish() -> None:
    assert reason_terms("Support\u2019s ANSWER took 3 days") == ["support", "answer", "support answer", "took",
                                                             "answer took", "days"]
    assert reason_terms("Kargo çok geç geldi") == ["kargo", "geç", "geldi", "geç geldi"]


def test_nothing_to_say() -> None:
    assert reason_terms(None) == [] and reason_terms("") == [] and reason_terms("it was, and so on") == []


def test_a_long_reason_is_bounded() -> None:
    text = " ".join(f"word{chr(97 + n % 26)}{chr(97 + n // 26)}" for n in range(200))
    assert len(reason_terms(text)) == MAX_TERMS_PER_REASON
