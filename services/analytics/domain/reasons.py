"""The words and phrases of an NPS reason ("what is the main reason for your score?"), without I/O.

Why terms at ingestion rather than text: analytics must show what promoters, passives and detractors
talk about, not what each person wrote. The reason arrives sealed under the customer's key and is
opened by the projector only where analytics is entitled to (the campaigns service's key); the
projector keeps the terms, never the text, under the customer's id so an erasure deletes them with
the rest of the customer's personal data (a rebuild after the erasure cannot open the text again).

A term is a word of two letters or more that is not a stop word (English and Turkish, the platform's
two languages), or two such words side by side ("late delivery"); a stop word or punctuation between
two words breaks the phrase ("late for delivery" and "late, delivery" give no phrase). Each term counts
once per answer, so ``mentions`` is the number of answers that mention it.
"""

# ruff: noqa: RUF001 - the Turkish stop words and the typographic apostrophe are meant as written

from __future__ import annotations

import re

MAX_TERMS_PER_REASON = 60
"""A long reason contributes at most this many distinct terms (its first words first)."""

_PUNCTUATION = re.compile(r"[^\w\s'’]+|[\d_]+", re.UNICODE)
"""What ends a clause: punctuation, and numbers ("took 3 days" is not the phrase "took days")."""
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)

_STOP_WORDS_TEXT = """
    a about above after again against all also am an and any are aren as at be because been before being
    below between both but by can cannot could couldn did didn do does doesn doing don down during each
    even ever every few for from further get got had hadn has hasn have haven having he her here hers
    herself him himself his how i if in into is isn it its itself just let me more most much must mustn my
    myself no nor not now of off on once only or other ought our ours ourselves out over own really same
    shan she should shouldn so some still such than that the their theirs them themselves then there these
    they this those through to too under until up us very was wasn we were weren what when where which
    while who whom why will with won would wouldn you your yours yourself yourselves
    i'm i've i'd i'll it's don't didn't doesn't isn't wasn't can't won't that's there's they're you're we're
    thing things one two way lot lots bit quite always never
    ne de da ki mi mı mu mü ile ve veya ama fakat çok daha en gibi için bu şu o bir her hiç ben sen biz
    siz onlar bana beni benim bize sizin onun olarak olan oldu olmadı var yok değil diye kadar sonra önce
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
"""Words that say nothing about why: articles, pronouns, auxiliaries, fillers (English and Turkish)."""


def reason_terms(text: str | None) -> list[str]:
    """The distinct terms of a reason, in order of first appearance (words, then the phrases they form)."""
    if not text:
        return []
    terms: list[str] = []
    seen: set[str] = set()

    def add(term: str) -> None:
        if term not in seen and len(seen) < MAX_TERMS_PER_REASON:
            seen.add(term)
            terms.append(term)

    for clause in _PUNCTUATION.split(text):  # a phrase never spans a comma, a full stop or a number
        previous: str | None = None
        for found in _WORD.findall(clause):
            word = found.lower().replace("’", "'")
            if word not in STOP_WORDS:
                word = word.split("'")[0]  # support's → support, Ahmet'in → ahmet
            if len(word) < 2 or word in STOP_WORDS:
                previous = None
                continue
            add(word)
            if previous is not None:
                add(f"{previous} {word}")
            previous = word
    return terms


__all__ = ["MAX_TERMS_PER_REASON", "STOP_WORDS", "reason_terms"]
