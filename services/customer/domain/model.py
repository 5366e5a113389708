"""The customer domain: customers, orders and invoices as event-sourced aggregates.

Pure Python: no I/O. Every rule lives here and raises ``shared.errors``; the application layer only
loads, calls and appends. Each aggregate changes state in exactly one place per event (``_on_X``),
so a rehydrated aggregate and one that just decided are indistinguishable.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal, NotRequired, TypedDict, Unpack, cast
from uuid import UUID

import phonenumbers
from rapidfuzz import fuzz

from shared.contracts.customer import (
    AccountManagerAssigned,
    AcquisitionChannel,
    ConsentChange,
    ConsentMerge,
    Consents,
    ConsentSource,
    ContactChannel,
    ContactPreferencesChanged,
    ContactVerified,
    CustomerErased,
    CustomerProfileUpdated,
    CustomerRegistered,
    CustomersMerged,
    CustomersUnmerged,
    InvoiceIssued,
    MatchEvidence,
    OrderCancelled,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderReturned,
    OrderShipped,
    PaymentMethod,
    PaymentOverdue,
    PaymentReceived,
    RelationshipType,
    ServiceFollowupsChanged,
    VerifiableChannel,
)
from shared.errors import Conflict, Gone, InvalidInput
from shared.store.aggregate import Aggregate

CENT: Final = Decimal("0.01")
CHANNELS: Final[tuple[ContactChannel, ...]] = ("email", "sms", "push", "phone")
SERVICE_FOLLOWUPS: Final = "service_followups"
"""The opt-out of service follow-ups, given and shown beside the channels' consents (on unless withdrawn)."""
NAME_SIMILARITY: Final = 0.85
"""Two normalised names at least this similar (``name_similarity``) count as the same name by default;
the duplicate rules (``identity.DuplicateRules``) make the threshold data."""

CustomerStatus = Literal["active", "merged", "erased"]
OrderStatus = Literal["placed", "shipped", "delivered", "cancelled", "returned"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

CURRENCIES: Final = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN
    BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF
    KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR
    MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK
    SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI
    UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """.split()  # noqa: SIM905 (a grid of codes reads and diffs better than 170 list items)
)
"""Active ISO 4217 currency codes (funds codes included; precious metals, test and no-currency codes not)."""

_GMAIL_DOMAINS: Final = frozenset({"gmail.com", "googlemail.com"})


# --- identity -------------------------------------------------------------------------------------


def normalise_email(raw: str) -> str:
    """Trim and lower-case an email; ``InvalidInput`` when it is not shaped like one."""
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidInput("email is not a valid address", field="email")
    return email


def canonical_email(email: str) -> str:
    """The mailbox an address really reaches: ``+tags`` dropped, and dots for Gmail.

    Not used for uniqueness (two spellings may be two people on a corporate server) but as duplicate
    evidence: ``jane.doe+shop@gmail.com`` and ``janedoe@gmail.com`` are almost surely one person.
    """
    local, _, domain = email.partition("@")
    local = local.split("+", 1)[0]
    if domain in _GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def normalise_phone(raw: str, default_region: str | None = None) -> str:
    """A phone number in E.164 (``+905551234567``); ``InvalidInput`` when it is not a valid number."""
    try:
        parsed = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(
            "phone must be an international number in E.164, e.g. +905551234567", field="phone"
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput("phone is not a valid number", field="phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def name_key(name: str) -> str:
    """A name reduced for comparison: accents stripped, case folded, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().replace("\u0131", "i").split())


def name_similarity(left: str | None, right: str | None) -> float | None:
    """How alike two names are, 0..1, after ``name_key``; ``None`` when either is missing.

    rapidfuzz's token-sort ratio (normalised Indel similarity of the words in sorted order), so
    "Doe Jane" and "Jane Doe" are the same name and one changed letter in a short name still counts.
    """
    if not left or not right:
        return None
    a, b = name_key(left), name_key(right)
    return 1.0 if a == b else round(fuzz.token_sort_ratio(a, b) / 100, 4)


def similar_names(left: str | None, right: str | None, threshold: float = NAME_SIMILARITY) -> bool:
    score = name_similarity(left, right)
    return score is not None and score >= threshold


@dataclass(frozen=True, slots=True)
class Identity:
    """The identifying facts of one customer record, for duplicate detection."""

    name: str | None
    email: str | None
    phone: str | None
    birth_date: date | None


def match_evidence(left: Identity, right: Identity) -> list[MatchEvidence]:
    """What two records share: the evidence an operator sees before merging them."""
    evidence: list[MatchEvidence] = []
    if left.email and right.email and canonical_email(left.email) == canonical_email(right.email):
        evidence.append("email")
    if left.phone and right.phone and left.phone == right.phone:
        evidence.append("phone")
    if similar_names(left.name, right.name):
        evidence.append("name")
    if left.birth_date and right.birth_date and left.birth_date == right.birth_date:
        evidence.append("birth_date")
    return evidence


def is_duplicate_candidate(evidence: Iterable[MatchEvidence]) -> bool:
    """Same mailbox or phone, or a similar name with the same birth date."""
    found = set(evidence)
    return bool(found & {"email", "phone"}) or {"name", "birth_date"} <= found


# --- customer -------------------------------------------------------------------------------------

PROFILE_FIELDS: Final = (
    "name",
    "email",
    "phone",
    "birth_date",
    "address",
    "timezone",
    "relationship_type",
    "interests",
)



class NewCustomer(TypedDict):
    """What a registration says about the customer: name and email, the rest when known.

    One definition for the aggregate and the use case that passes it on (``**profile``)."""

    name: str
    email: str
    phone: NotRequired[str | None]
    birth_date: NotRequired[date | None]
    address: NotRequired[str | None]
    acquisition_channel: NotRequired[AcquisitionChannel | None]
    referred_by: NotRequired[UUID | None]
    acquisition_cost: NotRequired[Decimal | None]
    timezone: NotRequired[str | None]
    relationship_type: NotRequired[RelationshipType]
    consents: NotRequired[Mapping[ContactChannel, bool] | None]
    interests: NotRequired[Iterable[str]]


class Customer(Aggregate):
    """A customer's profile, consents, account manager and merges.

    ``merged_into`` is not in this customer's own stream (a merge is recorded once, on the survivor's
    stream); the application layer sets it (``link``) from the identity read model, which the same
    transaction as every merge and erasure keeps current.
    """

    id: UUID
    status: CustomerStatus
    name: str | None
    email: str | None
    phone: str | None
    birth_date: date | None
    address: str | None
    timezone: str | None
    relationship_type: RelationshipType
    acquisition_channel: AcquisitionChannel | None
    referred_by: UUID | None
    acquisition_cost: Decimal | None
    consents: dict[ContactChannel, bool]
    consent_set_at: dict[ContactChannel, datetime | None]
    own_consents: dict[ContactChannel, bool]
    merged_consents: dict[UUID, dict[ContactChannel, bool]]
    verified: set[VerifiableChannel]
    interests: list[str]
    account_manager_id: str | None
    merged_duplicates: set[UUID]
    merged_into: UUID | None
    registered_at: datetime | None

    def _initial_state(self) -> None:
        self.status = "active"
        self.name = self.email = self.phone = self.address = self.timezone = None
        self.birth_date = None
        self.relationship_type = "transactional"
        self.acquisition_channel = None
        self.referred_by = None
        self.acquisition_cost = None
        self.consents = dict.fromkeys(CHANNELS, False)
        # ``consents`` is what may be used now. ``own_consents`` is what this record's person chose
        # (registration and their changes); ``merged_consents`` holds, per merged duplicate, its
        # consent on the channels where it still restricts this one (a later choice of the person
        # lifts that). ``consents`` == own AND every restriction: a merge only narrows, an unmerge
        # recomputes without the duplicate, so it gives back exactly what that merge took.
        self.consent_set_at = dict.fromkeys(CHANNELS, None)
        self.own_consents = dict.fromkeys(CHANNELS, False)
        self.service_followups = True
        self.merged_consents = {}
        self.verified = set()
        self.interests = []
        self.account_manager_id = None
        self.merged_duplicates = set()
        self.merged_into = None
        self.registered_at = None

    @classmethod
    def register(cls, *, customer_id: UUID, now: datetime, **profile: Unpack[NewCustomer]) -> Customer:
        """A new customer; emails and phones are normalised before anything is compared or stored."""
        name, phone, birth_date = profile["name"], profile.get("phone"), profile.get("birth_date")
        acquisition_cost, referred_by = profile.get("acquisition_cost"), profile.get("referred_by")
        if not name.strip():
            raise InvalidInput("name must not be blank", field="name")
        if acquisition_cost is not None and acquisition_cost < 0:
            raise InvalidInput("acquisition_cost must be >= 0", field="acquisition_cost")
        if referred_by == customer_id:
            raise InvalidInput("a customer cannot refer themself", field="referred_by")
        if birth_date is not None and birth_date > now.date():
            raise InvalidInput("birth_date is in the future", field="birth_date")
        customer = cls()
        customer._record(
            CustomerRegistered(
                customer_id=customer_id,
                name=name.strip(),
                email=normalise_email(profile["email"]),
                phone=normalise_phone(phone) if phone else None,
                birth_date=birth_date,
                address=profile.get("address"),
                acquisition_channel=profile.get("acquisition_channel"),
                referred_by=referred_by,
                acquisition_cost=acquisition_cost,
                timezone=profile.get("timezone"),
                relationship_type=profile.get("relationship_type", "transactional"),
                consents=Consents(**dict(profile.get("consents") or {})),
                interests=_tags(profile.get("interests", ())),
                registered_at=now,
            )
        )
        return customer

    def link(self, *, merged_into: UUID | None, erased_with_survivor: bool) -> None:
        """Facts recorded on another customer's stream: the merge that absorbed this customer, and the
        erasure of that survivor, which erases its merged duplicates with it (the same person)."""
        self.merged_into = merged_into
        if erased_with_survivor:
            self.status = "erased"

    @property
    def identity(self) -> Identity:
        return Identity(self.name, self.email, self.phone, self.birth_date)

    @property
    def is_verified(self) -> bool:
        """A verified identity: the person proved they own this record's email or phone."""
        return bool(self.verified)

    def verify_contact(self, channel: VerifiableChannel, *, method: str | None, by: str | None, now: datetime) -> None:
        """Record that the customer proved they own their email or phone (once; again is a no-op)."""
        self.ensure_active("be verified")
        if getattr(self, channel) is None:
            # The request is fine; the record holds nothing to verify (yet): a state conflict, not bad input.
            raise Conflict(f"customer {self.id} has no {channel} to verify", current_status=self.status)
        if channel not in self.verified:
            self._record(
                ContactVerified(
                    customer_id=self.id, channel=channel, method=method or None, verified_by=by, verified_at=now
                )
            )

    def ensure_exists(self) -> None:
        """Erased customers are gone for good (410)."""
        if self.status == "erased":
            raise Gone(f"customer {self.id} was erased")

    def ensure_active(self, action: str) -> None:
        """Only an active customer can be changed, merged into, or order."""
        if self.status == "erased":
            raise Conflict(f"customer {self.id} was erased and cannot {action}", current_status="erased")
        if self.merged_into is not None:
            raise Conflict(
                f"customer {self.id} was merged into {self.merged_into} and cannot {action}",
                current_status="merged",
                merged_into=str(self.merged_into),
            )

    def update_profile(self, changes: Mapping[str, Any], *, now: datetime) -> None:
        """Record only what really changed; an update that changes nothing records nothing."""
        self.ensure_active("be updated")
        unknown = set(changes) - set(PROFILE_FIELDS)
        if unknown:
            raise InvalidInput(f"unknown profile fields: {', '.join(sorted(unknown))}")
        new: dict[str, Any] = dict(changes)
        if "name" in new:
            if not new["name"] or not str(new["name"]).strip():
                raise InvalidInput("name must not be blank", field="name")
            new["name"] = str(new["name"]).strip()
        if "email" in new:
            if not new["email"]:
                raise InvalidInput("email cannot be removed", field="email")
            new["email"] = normalise_email(new["email"])
        if new.get("phone"):
            new["phone"] = normalise_phone(new["phone"])
        if "relationship_type" in new and new["relationship_type"] is None:
            raise InvalidInput("relationship_type cannot be removed", field="relationship_type")
        if "interests" in new:
            new["interests"] = _tags(new["interests"] or [])
        if new.get("birth_date") is not None and new["birth_date"] > now.date():
            raise InvalidInput("birth_date is in the future", field="birth_date")
        changed: list[str] = [f for f in PROFILE_FIELDS if f in new and new[f] != getattr(self, f)]
        if changed:
            self._record(
                CustomerProfileUpdated(
                    customer_id=self.id,
                    changed_fields=changed,
                    updated_at=now,
                    **{f: new[f] for f in changed},
                )
            )

    def consents_shown(self) -> dict[str, bool]:
        """The channels' consents and the service follow-ups opt-out, as the read model and API show them."""
        shown: dict[str, bool] = {channel: granted for channel, granted in self.consents.items()}
        shown[SERVICE_FOLLOWUPS] = self.service_followups
        return shown

    def change_consents(self, consents: Mapping[ContactChannel, bool], *, source: ConsentSource, now: datetime) -> None:
        """One ``ContactPreferencesChanged`` per channel whose consent really changes; ``service_followups`` (the
        separate opt-out of service follow-ups) gives ``ServiceFollowupsChanged`` when it changes."""
        self.ensure_active("change consents")
        for channel in CHANNELS:
            if channel in consents and consents[channel] != self.consents[channel]:
                self._record(
                    ContactPreferencesChanged(
                        customer_id=self.id,
                        channel=channel,
                        granted=consents[channel],
                        changed_at=now,
                        source=source,
                    )
                )
        followups = cast(Mapping[str, bool], consents).get(SERVICE_FOLLOWUPS)
        if followups is not None and followups != self.service_followups:
            self._record(ServiceFollowupsChanged(customer_id=self.id, granted=followups, changed_at=now, source=source))

    def assign_account_manager(self, account_manager_id: str, *, by: str | None, now: datetime) -> None:
        self.ensure_active("get an account manager")
        if not account_manager_id.strip():
            raise InvalidInput("account_manager_id must not be blank", field="account_manager_id")
        if account_manager_id == self.account_manager_id:
            return
        self._record(
            AccountManagerAssigned(
                customer_id=self.id,
                account_manager_id=account_manager_id,
                previous_account_manager_id=self.account_manager_id,
                assigned_by=by,
                assigned_at=now,
            )
        )

    def merge(
        self,
        duplicate: Customer,
        *,
        reason: str,
        by: str | None,
        now: datetime,
        confirm_verified_identities: bool = False,
        automatic: bool = False,
    ) -> list[MatchEvidence]:
        """Absorb ``duplicate``: its history belongs to this customer until an unmerge.

        Consent per channel becomes the more restrictive of the two (``merge_consents``), recorded as
        ``ContactPreferencesChanged`` after the merge so every subscriber that honours consent narrows
        it too. Two verified identities are two people who each proved an address: never merged by an
        automatic path, and by an operator only with ``confirm_verified_identities``.
        """
        if duplicate.id == self.id:
            raise Conflict("a customer cannot be merged into itself", current_status=self.status)
        if not reason.strip():
            raise InvalidInput("a merge needs a reason", field="reason")
        self.ensure_active("absorb a duplicate")
        if duplicate.status == "erased":
            raise Conflict(f"customer {duplicate.id} was erased", current_status="erased")
        if duplicate.merged_into is not None:
            raise Conflict(
                f"customer {duplicate.id} is already merged into {duplicate.merged_into}",
                current_status="merged",
                merged_into=str(duplicate.merged_into),
            )
        if duplicate.merged_duplicates:
            raise Conflict(
                f"customer {duplicate.id} has merged duplicates of its own; unmerge them first",
                current_status=duplicate.status,
            )
        both_verified = self.is_verified and duplicate.is_verified
        if both_verified and automatic:
            raise Conflict(
                "two verified identities are never merged automatically; an operator must merge them",
                current_status=self.status,
                code="verified-identities",
            )
        if both_verified and not confirm_verified_identities:
            raise Conflict(
                f"customers {self.id} and {duplicate.id} are both verified identities (each proved their "
                f"{' and '.join(sorted(self.verified))} / {' and '.join(sorted(duplicate.verified))}); "
                "send confirm_verified_identities=true to merge them anyway",
                current_status=self.status,
                code="verified-identities",
                survivor_verified=sorted(self.verified),
                duplicate_verified=sorted(duplicate.verified),
            )
        evidence = match_evidence(self.identity, duplicate.identity)
        consents = merge_consents(self, duplicate)
        self._record(
            CustomersMerged(
                customer_id=self.id,
                duplicate_id=duplicate.id,
                reason=reason.strip(),
                evidence=evidence,
                merged_by=by,
                merged_at=now,
                consents=consents,
                verified_identities_confirmed=both_verified,
            )
        )
        for change in consents:
            if change.after != change.survivor:
                self._record_consent_moved(change.channel, change.after, "merge", duplicate.id, now)
        duplicate.merged_into = self.id
        return evidence

    def _record_consent_moved(
        self, channel: Any, granted: bool, because: Literal["merge", "unmerge"], duplicate_id: UUID, now: datetime
    ) -> None:
        """A consent a merge narrowed or an unmerge gave back, published like any consent change."""
        self._record(
            ContactPreferencesChanged(
                customer_id=self.id, channel=channel, granted=granted, changed_at=now, source="operator",
                because=because, duplicate_id=duplicate_id,
            )
        )

    def unmerge(self, duplicate: Customer, *, reason: str | None, by: str | None, now: datetime) -> None:
        """Undo a merge: the duplicate becomes a customer of its own again."""
        if duplicate.id not in self.merged_duplicates:
            raise Conflict(f"customer {duplicate.id} is not merged into {self.id}", current_status=self.status)
        self.ensure_exists()
        restored = self._consents_without(duplicate.id)
        self._record(
            CustomersUnmerged(
                customer_id=self.id,
                duplicate_id=duplicate.id,
                reason=reason,
                unmerged_by=by,
                unmerged_at=now,
                consents_restored=restored,
            )
        )
        for change in restored:
            self._record_consent_moved(change.channel, change.after, "unmerge", duplicate.id, now)
        duplicate.merged_into = None

    def _consents_without(self, duplicate_id: UUID) -> list[ConsentChange]:
        """The channels whose consent changes when ``duplicate_id``'s restrictions are lifted."""
        others = [r for d, r in self.merged_consents.items() if d != duplicate_id]
        changes = []
        for channel in CHANNELS:
            target = self.own_consents[channel] and all(r.get(channel, True) for r in others)
            if target != self.consents[channel]:
                changes.append(ConsentChange(channel=channel, before=self.consents[channel], after=target))
        return changes

    def erase(self, *, by: str | None, now: datetime) -> None:
        """Right to be forgotten; the application destroys the key in the same transaction."""
        self.ensure_exists()
        self._record(CustomerErased(customer_id=self.id, erased_at=now, erased_by=by))

    # evolution

    def _on_CustomerRegistered(self, e: CustomerRegistered) -> None:  # noqa: N802
        self.id = e.customer_id
        self.name, self.email, self.phone = e.name, e.email, e.phone
        self.birth_date, self.address, self.timezone = e.birth_date, e.address, e.timezone
        self.relationship_type = e.relationship_type
        self.acquisition_channel = e.acquisition_channel
        self.referred_by = e.referred_by
        self.acquisition_cost = e.acquisition_cost
        consents = e.consents.model_dump()
        self.service_followups = bool(consents.pop(SERVICE_FOLLOWUPS, True))
        self.consents = cast(dict[ContactChannel, bool], consents)
        self.own_consents = dict(self.consents)
        self.consent_set_at = dict.fromkeys(CHANNELS, e.registered_at)
        self.interests = list(e.interests)
        self.registered_at = e.registered_at

    def _on_CustomerProfileUpdated(self, e: CustomerProfileUpdated) -> None:  # noqa: N802
        for field in e.changed_fields:
            if field in PROFILE_FIELDS:
                value = getattr(e, field)
                setattr(self, field, list(value) if isinstance(value, list) else value)
            if field in ("email", "phone"):
                self.verified.discard(cast(VerifiableChannel, field))  # a new address is not proven yet

    def _on_ContactPreferencesChanged(self, e: ContactPreferencesChanged) -> None:  # noqa: N802
        self.consents[e.channel] = e.granted
        self.consent_set_at[e.channel] = e.changed_at
        if e.because is None:
            # The person's own choice, made after any merge: it supersedes what merged duplicates said.
            self.own_consents[e.channel] = e.granted
            for restrictions in self.merged_consents.values():
                restrictions.pop(e.channel, None)

    def _on_ServiceFollowupsChanged(self, e: ServiceFollowupsChanged) -> None:  # noqa: N802
        self.service_followups = e.granted

    def _on_ContactVerified(self, e: ContactVerified) -> None:  # noqa: N802
        self.verified.add(e.channel)

    def _on_AccountManagerAssigned(self, e: AccountManagerAssigned) -> None:  # noqa: N802
        self.account_manager_id = e.account_manager_id

    def _on_CustomersMerged(self, e: CustomersMerged) -> None:  # noqa: N802
        self.merged_duplicates.add(e.duplicate_id)
        # Merges recorded before consents were merged carry none: they restrict nothing.
        self.merged_consents[e.duplicate_id] = {c.channel: c.duplicate for c in e.consents}

    def _on_CustomersUnmerged(self, e: CustomersUnmerged) -> None:  # noqa: N802
        self.merged_duplicates.discard(e.duplicate_id)
        self.merged_consents.pop(e.duplicate_id, None)

    def _on_CustomerErased(self, e: CustomerErased) -> None:  # noqa: N802
        self.status = "erased"
        self.name = self.email = self.phone = self.address = None
        self.birth_date = None
        self.verified = set()


def merge_consents(survivor: Customer, duplicate: Customer) -> list[ConsentMerge]:
    """Per channel, the more restrictive of the two consents, and which side it came from.

    Granted only when both sides granted: a merge must never make a person who withdrew on either
    record reachable again. A withdrawal wins over a grant of any age (an older grant is the case that
    bites: the person withdrew on one record after granting on the other); a person who really wants
    contact again grants it once more on the merged profile, which lifts the restriction.
    """
    merged = []
    for channel in CHANNELS:
        mine, theirs = survivor.consents[channel], duplicate.consents[channel]
        after = mine and theirs
        winner: Literal["survivor", "duplicate", "both"] = (
            "both" if mine == theirs else "survivor" if not mine else "duplicate"
        )
        merged.append(
            ConsentMerge(
                channel=channel,
                survivor=mine,
                duplicate=theirs,
                after=after,
                winner=winner,
                survivor_set_at=survivor.consent_set_at[channel],
                duplicate_set_at=duplicate.consent_set_at[channel],
            )
        )
    return merged


def _tags(values: Iterable[str]) -> list[str]:
    """Interests as a de-duplicated, trimmed, lower-case list in first-seen order."""
    seen: dict[str, None] = {}
    for value in values:
        tag = value.strip().lower()
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


# --- orders ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineRequest:
    """An order line as asked for; totals are computed by ``Order.place``."""

    sku: str
    name: str
    category: str
    quantity: int
    unit_price: Decimal
    unit_cost: Decimal | None = None



class NewOrder(TypedDict):
    """What a customer's order asks for; one definition for the aggregate and the use case."""

    lines: Iterable[LineRequest]
    currency: str
    channel: str
    offer_code: NotRequired[str | None]
    promised_delivery_date: NotRequired[date | None]


class Order(Aggregate):
    """An order's lifecycle: placed → shipped → delivered → returned, or cancelled before delivery."""

    id: UUID
    customer_id: UUID
    status: OrderStatus
    total: Decimal
    currency: str
    promised_delivery_date: date | None
    delivered_at: datetime | None

    def _initial_state(self) -> None:
        self.status = "placed"
        self.total = Decimal("0")
        self.currency = ""
        self.promised_delivery_date = None
        self.delivered_at = None

    @classmethod
    def place(cls, *, order_id: UUID, customer: Customer, now: datetime, **request: Unpack[NewOrder]) -> Order:
        """Compute exact totals (and margin when every line has a cost) and place the order."""
        customer.ensure_active("place orders")
        requested, currency = list(request["lines"]), request["currency"]
        promised_delivery_date = request.get("promised_delivery_date")
        if not requested:
            raise InvalidInput("an order needs at least one line", field="lines")
        if currency not in CURRENCIES:
            raise InvalidInput("currency must be an ISO 4217 code such as EUR", field="currency")
        if promised_delivery_date is not None and promised_delivery_date < now.date():
            raise InvalidInput("promised_delivery_date is in the past", field="promised_delivery_date")
        order_lines = []
        for line in requested:
            if line.quantity <= 0:
                raise InvalidInput("quantity must be > 0", field="quantity")
            if line.unit_price < 0 or (line.unit_cost is not None and line.unit_cost < 0):
                raise InvalidInput("prices and costs must be >= 0", field="unit_price")
            order_lines.append(
                OrderLine(
                    sku=line.sku,
                    name=line.name,
                    category=line.category,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    unit_cost=line.unit_cost,
                    line_total=_money(line.unit_price * line.quantity),
                    line_cost=None if line.unit_cost is None else _money(line.unit_cost * line.quantity),
                )
            )
        total = _money(sum((line.line_total for line in order_lines), Decimal("0")))
        costs = [line.line_cost for line in order_lines]
        cost = None if any(c is None for c in costs) else _money(sum((c for c in costs if c is not None), Decimal("0")))
        order = cls()
        order._record(
            OrderPlaced(
                customer_id=customer.id,
                order_id=order_id,
                lines=order_lines,
                total=total,
                cost=cost,
                margin=None if cost is None else total - cost,
                currency=currency,
                channel=request["channel"],
                offer_code=request.get("offer_code") or None,
                promised_delivery_date=promised_delivery_date,
                placed_at=now,
            )
        )
        return order

    def _require(self, action: str, *allowed: OrderStatus) -> None:
        if self.status not in allowed:
            raise Conflict(f"cannot {action} an order that is {self.status}", current_status=self.status)

    def ship(self, *, now: datetime, carrier: str | None = None, tracking_number: str | None = None) -> None:
        self._require("ship", "placed")
        self._record(
            OrderShipped(
                customer_id=self.customer_id,
                order_id=self.id,
                carrier=carrier,
                tracking_number=tracking_number,
                shipped_at=now,
            )
        )

    def deliver(self, *, now: datetime) -> None:
        self._require("deliver", "shipped")
        promised = self.promised_delivery_date
        self._record(
            OrderDelivered(
                customer_id=self.customer_id,
                order_id=self.id,
                delivered_at=now,
                promised_delivery_date=promised,
                on_time=None if promised is None else now.date() <= promised,
            )
        )

    def cancel(self, *, now: datetime, reason: str | None = None) -> None:
        self._require("cancel", "placed", "shipped")
        self._record(
            OrderCancelled(
                customer_id=self.customer_id,
                order_id=self.id,
                reason=reason,
                total=self.total,
                currency=self.currency,
                cancelled_at=now,
            )
        )

    def return_(self, *, now: datetime, window: timedelta, reason: str | None = None) -> None:
        """Take a delivered order back, only within the return window."""
        self._require("return", "delivered")
        assert self.delivered_at is not None
        if now - self.delivered_at > window:
            raise Conflict(
                f"the return window of {window.days} days after delivery has passed",
                current_status=self.status,
            )
        self._record(
            OrderReturned(
                customer_id=self.customer_id,
                order_id=self.id,
                reason=reason,
                refund_amount=self.total,
                currency=self.currency,
                returned_at=now,
            )
        )

    def ensure_invoiceable(self) -> None:
        if self.status in ("cancelled", "returned"):
            raise Conflict(f"cannot invoice an order that is {self.status}", current_status=self.status)

    def _on_OrderPlaced(self, e: OrderPlaced) -> None:  # noqa: N802
        self.id, self.customer_id = e.order_id, e.customer_id
        self.total, self.currency = e.total, e.currency
        self.promised_delivery_date = e.promised_delivery_date

    def _on_OrderShipped(self, e: OrderShipped) -> None:  # noqa: N802
        self.status = "shipped"

    def _on_OrderDelivered(self, e: OrderDelivered) -> None:  # noqa: N802
        self.status, self.delivered_at = "delivered", e.delivered_at

    def _on_OrderCancelled(self, e: OrderCancelled) -> None:  # noqa: N802
        self.status = "cancelled"

    def _on_OrderReturned(self, e: OrderReturned) -> None:  # noqa: N802
        self.status = "returned"


# --- invoices -------------------------------------------------------------------------------------


class Invoice(Aggregate):
    """An invoice for one order: partial payments add up; overpaying is refused; overdue is told once."""

    id: UUID
    customer_id: UUID
    order_id: UUID
    amount: Decimal
    paid: Decimal
    currency: str
    due_date: date
    overdue_notified: bool

    def _initial_state(self) -> None:
        self.paid = Decimal("0")
        self.overdue_notified = False

    @classmethod
    def issue(cls, *, invoice_id: UUID, order: Order, due_date: date, now: datetime) -> Invoice:
        order.ensure_invoiceable()
        invoice = cls()
        invoice._record(
            InvoiceIssued(
                customer_id=order.customer_id,
                invoice_id=invoice_id,
                order_id=order.id,
                amount=order.total,
                currency=order.currency,
                due_date=due_date,
                issued_at=now,
            )
        )
        return invoice

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.paid

    def pay(self, *, payment_id: UUID, amount: Decimal, method: PaymentMethod, now: datetime) -> None:
        """Record a payment; more than what is outstanding is refused (422), changing nothing."""
        if amount <= 0:
            raise InvalidInput("amount must be > 0", field="amount")
        if amount > self.outstanding:
            raise InvalidInput(
                f"payment of {amount:.2f} exceeds the outstanding {self.outstanding:.2f}",
                field="amount",
                outstanding=f"{self.outstanding:.2f}",
            )
        paid = self.paid + amount
        self._record(
            PaymentReceived(
                customer_id=self.customer_id,
                payment_id=payment_id,
                invoice_id=self.id,
                order_id=self.order_id,
                amount=amount,
                currency=self.currency,
                method=method,
                paid_at=now,
                invoice_amount=self.amount,
                amount_paid=paid,
                outstanding=self.amount - paid,
                fully_paid=paid == self.amount,
                due_date=self.due_date,
                days_late=max(0, (now.date() - self.due_date).days),
            )
        )

    def check_overdue(self, *, now: datetime) -> bool:
        """Record ``PaymentOverdue`` once when unpaid after the due date; True when it did."""
        days = (now.date() - self.due_date).days
        if self.overdue_notified or self.outstanding <= 0 or days <= 0:
            return False
        self._record(
            PaymentOverdue(
                customer_id=self.customer_id,
                invoice_id=self.id,
                order_id=self.order_id,
                due_date=self.due_date,
                days_overdue=days,
                invoice_amount=self.amount,
                outstanding=self.outstanding,
                currency=self.currency,
                detected_at=now,
            )
        )
        return True

    def _on_InvoiceIssued(self, e: InvoiceIssued) -> None:  # noqa: N802
        self.id, self.customer_id, self.order_id = e.invoice_id, e.customer_id, e.order_id
        self.amount, self.currency, self.due_date = e.amount, e.currency, e.due_date

    def _on_PaymentReceived(self, e: PaymentReceived) -> None:  # noqa: N802
        self.paid = e.amount_paid

    def _on_PaymentOverdue(self, e: PaymentOverdue) -> None:  # noqa: N802
        self.overdue_notified = True


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT)
