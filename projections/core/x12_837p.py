"""The period's claims as one ASC X12 837P interchange (005010X222A1), written by hand.

No well-kept Python library writes an 837P, and the part we need is small: one billing provider,
one subscriber per claim (the patient is the subscriber), one claim per episode and month, one
service line per claim line. Pure: every input, the clock included (`Interchange.created_at`), is
an argument. Patient names, birth dates and addresses reach this module only as `Subscriber`
arguments and leave it only in the returned text: never logged, never stored.

The interchange, segment by segment:

    ISA GS ST BHT                        envelope and header (control numbers from the caller)
    1000A NM1*41 PER                     submitter (the pharmacy) and its contact
    1000B NM1*40                         receiver (clearinghouse or payer)
    2000A HL*1**20*1 [PRV*BI]            billing provider level
      2010AA NM1*85 N3 N4 REF*EI         the pharmacy: name, NPI, address, tax id
      2000B HL*n*1*22*0 SBR*P*18         per claim: the subscriber is the patient (no 2000C)
        2010BA NM1*IL N3 N4 DMG          subscriber name, member id, address, birth date, sex
        2010BB NM1*PR                    payer (name and payer id)
        2300 CLM [REF*F8] HI             claim: CLM01 = claim_id, CLM05 = 12:B:1|7|8 (home;
                                         original, replacement, void), REF*F8 = the claim_id
                                         replaced or voided, HI = ABK principal + ABF others
          2310A NM1*DN                   referring provider: the prescriber who referred
          2400 LX SV1 DTP*472 [REF*G1]   per line: HC:code, charge = units x unit price, UN,
                                         units, place of service 12, diagnosis pointer 1;
                                         service dates RD8 from-to; the S9363 authorization
            2420E NM1*DK                 ordering provider: the prescriber's NPI
    SE GE IEA                            trailers with their counts

CLM01 (the patient control number) is the `claim_id` that the submission records in its
`ClaimSubmitted` (`ClaimToSend.claim_id`; by default `PeriodClaim.next_claim_id()`:
`CLM-YYYY-MM-<episode_id>`, then `-2`, `-3`... for later claims of the episode, never one it has
recorded), at most 38 characters: the payer echoes it on its remittance, and a later replacement
or void names it in REF*F8, exactly as `replaces` does in the contract.

A VOID repeats the lines of the claim it voids (payers match a void to its original); NEW and
REPLACE carry the current lines. Drug lines go without an NDC (2410): the events carry none.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from events import Event, ReferralReceived, instant
from projections.core.claim_actions import Action, PeriodClaim
from projections.core.claim_lines import ClaimLine

ELEMENT, COMPONENT, REPETITION, TERMINATOR = "*", ":", "^", "~"
IMPLEMENTATION = "005010X222A1"
HOME = "12"  # place of service: the patient's home
PERSON, ORGANIZATION = "1", "2"  # NM102
FREQUENCY = {Action.NEW: "1", Action.REPLACE: "7", Action.VOID: "8"}
MAX_DIAGNOSES = 12  # HI holds one principal (ABK) and up to eleven others (ABF)
MAX_PATIENT_CONTROL_NUMBER = 38  # CLM01, data element 1028


class NoClaimToSend(ValueError):
    """Every claim given was NONE: an 837P must hold at least one claim."""


@dataclass(frozen=True, slots=True)
class Address:
    line: str
    city: str
    state: str  # two letters
    postal_code: str  # 5 or 9 digits; 9 for the billing provider
    line2: str | None = None


@dataclass(frozen=True, slots=True)
class BillingProvider:
    """The pharmacy, from configuration."""

    name: str
    npi: str
    tax_id: str  # EIN, 9 digits
    address: Address
    contact_name: str
    contact_phone: str  # 10 digits
    taxonomy: str | None = None  # e.g. 3336H0001X, home infusion therapy pharmacy


@dataclass(frozen=True, slots=True)
class Interchange:
    """Who sends to whom, the control numbers (unique per sender, kept by the caller) and when."""

    sender_id: str  # ISA06, GS02 and the submitter id of 1000A
    receiver_id: str  # ISA08, GS03 and 1000B
    receiver_name: str
    interchange_control_number: int  # ISA13 / IEA02, 1 to 999999999
    group_control_number: int  # GS06 / GE02
    created_at: datetime
    production: bool = True  # ISA15: P, or T for a test file


@dataclass(frozen=True, slots=True)
class FeeSchedules:
    """Charge per unit of each HCPCS code: the payer's schedule, else the default one."""

    default: Mapping[str, Decimal]
    by_payer: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)

    def unit_price(self, payer_id: str, code: str) -> Decimal:
        price = self.by_payer.get(payer_id, {}).get(code, self.default.get(code))
        if price is None:
            raise ValueError(f"no fee for {code} in the schedule of payer {payer_id} nor in the default one")
        return price


@dataclass(frozen=True, slots=True)
class PayerInfo:
    name: str
    claim_filing_code: str = "CI"  # SBR09: CI commercial, MB Medicare part B, MC Medicaid, BL BCBS...


@dataclass(frozen=True, slots=True)
class Referral:
    """What the 837P takes from the episode's referral (the one recorded first)."""

    payer_id: str
    plan: str | None
    member_ref: str | None
    prescriber_npi: str
    prescriber_name: str
    diagnosis_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Subscriber:
    """The patient's demographics, decrypted by the caller only to write the file."""

    last_name: str
    first_name: str
    birth_date: date
    address: Address
    sex: Literal["F", "M", "U"] = "U"


@dataclass(frozen=True, slots=True)
class ClaimToSend:
    claim: PeriodClaim
    claim_id: str  # CLM01: the claim_id the ClaimSubmitted of this submission records
    referral: Referral
    subscriber: Subscriber

    @property
    def lines(self) -> tuple[ClaimLine, ...]:
        """The current lines; for a VOID, the lines of the claim it voids."""
        return self.claim.submitted_lines if self.claim.action is Action.VOID else self.claim.lines


def referral_of(events: Iterable[Event]) -> Referral | None:
    """The 837P's facts from an episode's events: its referral recorded first, or None."""
    referrals = [e for e in events if isinstance(e.data, ReferralReceived)]
    if not referrals:
        return None
    first = min(referrals, key=lambda e: (instant(e.recorded_at), e.event_id)).data
    assert isinstance(first, ReferralReceived)
    return Referral(
        payer_id=first.payer.payer_id,
        plan=first.payer.plan,
        member_ref=first.payer.member_ref,
        prescriber_npi=first.prescriber.npi,
        prescriber_name=first.prescriber.name,
        diagnosis_codes=tuple(first.diagnosis_codes),
    )


def person_name(name: str) -> tuple[str, str]:
    """(last, first) of a name written "Dr. Ana Rivera" or "Rivera": titles dropped, last word last."""
    words = [
        w for w in name.replace(",", " ").split() if w.rstrip(".").lower() not in {"dr", "md", "m.d", "do"}
    ]
    if not words:
        raise ValueError(f"no name in {name!r}")
    return words[-1], " ".join(words[:-1])


_ADDRESS = re.compile(
    r"^(?P<line>[^,]+),\s*(?:(?P<line2>[^,]+),\s*)?(?P<city>[^,]+),\s*"
    r"(?P<state>[A-Za-z]{2})\s+(?P<zip>[0-9]{5}(?:-?[0-9]{4})?)$"
)
# NM103/NM104, N301/N302 and N401 lengths of 005010X222A1.
LAST_NAME, FIRST_NAME, ADDRESS_LINE, CITY = 60, 35, 55, 30


def x12_text(value: str, max_length: int) -> str:
    """Free text as an 837P carries it: upper case, accents dropped, no X12 delimiter (each one,
    and any other mark outside the basic character set, becomes a space), cut to `max_length`."""
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().upper()
    kept = "".join(c if c.isalnum() or c in " .,-'&/()#" else " " for c in plain)
    return " ".join(kept.split())[:max_length].strip()


def subscriber_of(name: str, birth_date: date, address: str) -> Subscriber:
    """The subscriber of a claim from the patient's decrypted details (the referrals service's):
    a name written "First Last" or "Last, First", an address written "street[, line 2], city,
    ST 12345[-6789]". ValueError, without the values (they identify a patient), when they do not fit.
    """
    if "," in name:
        last, first = (part.strip() for part in name.split(",", 1))
    else:
        words = name.split()
        last, first = (words[-1], " ".join(words[:-1])) if words else ("", "")
    if not x12_text(last, LAST_NAME):
        raise ValueError("the patient's name has no last name an 837P can carry")
    found = _ADDRESS.match(" ".join(address.split()))
    if found is None:
        raise ValueError("the patient's address is not written 'street, city, ST 12345'")
    return Subscriber(
        last_name=x12_text(last, LAST_NAME),
        first_name=x12_text(first, FIRST_NAME),
        birth_date=birth_date,
        address=Address(
            line=x12_text(found["line"], ADDRESS_LINE),
            city=x12_text(found["city"], CITY),
            state=found["state"].upper(),
            postal_code=found["zip"].replace("-", ""),
            line2=x12_text(found["line2"], ADDRESS_LINE) if found["line2"] else None,
        ),
    )


def amount(value: Decimal) -> str:
    """An X12 R (decimal) value: no exponent, no trailing zeros after the point."""
    text = f"{value.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def icd10(code: str) -> str:
    """ICD-10 codes go without their dot (G82.20 -> G8220)."""
    return code.replace(".", "").strip()


def line_charge(line: ClaimLine, payer_id: str, fees: FeeSchedules) -> Decimal:
    return fees.unit_price(payer_id, line.code) * line.units


def write_837p(
    claims: Sequence[ClaimToSend],
    provider: BillingProvider,
    interchange: Interchange,
    fees: FeeSchedules,
    payers: Mapping[str, PayerInfo] | None = None,
) -> str:
    """One 837P interchange for the NEW, REPLACE and VOID claims given (NONE ones are left out).

    Raises ValueError for what the file could not carry: a value holding a delimiter, a
    claim_id longer than CLM01 allows, a referral without diagnosis or member id, a code without
    a fee; NoClaimToSend when nothing is left to send.
    """
    to_send = [c for c in claims if c.claim.action in FREQUENCY]
    if not to_send:
        raise NoClaimToSend("no NEW, REPLACE or VOID claim to send")
    created = interchange.created_at
    control = f"{interchange.interchange_control_number:09d}"
    if not 0 < interchange.interchange_control_number <= 999_999_999:
        raise ValueError(f"interchange control number out of range: {interchange.interchange_control_number}")
    header = [
        _isa(interchange, control),
        _segment(
            "GS",
            "HC",
            interchange.sender_id,
            interchange.receiver_id,
            created.strftime("%Y%m%d"),
            created.strftime("%H%M"),
            str(interchange.group_control_number),
            "X",
            IMPLEMENTATION,
        ),
    ]
    body = [
        _segment("ST", "837", "0001", IMPLEMENTATION),
        _segment("BHT", "0019", "00", control, created.strftime("%Y%m%d"), created.strftime("%H%M"), "CH"),
        _name("41", ORGANIZATION, provider.name, "", "46", interchange.sender_id),
        _segment("PER", "IC", provider.contact_name, "TE", provider.contact_phone),
        _name("40", ORGANIZATION, interchange.receiver_name, "", "46", interchange.receiver_id),
        _segment("HL", "1", "", "20", "1"),
        *([_segment("PRV", "BI", "PXC", provider.taxonomy)] if provider.taxonomy else []),
        _name("85", ORGANIZATION, provider.name, "", "XX", provider.npi),
        *_address(provider.address),
        _segment("REF", "EI", provider.tax_id),
    ]
    for number, claim in enumerate(to_send, start=2):
        body += _claim_segments(number, claim, fees, payers or {})
    body.append(_segment("SE", str(len(body) + 1), "0001"))
    trailer = [
        _segment("GE", "1", str(interchange.group_control_number)),
        _segment("IEA", "1", control),
    ]
    return "".join(header + body + trailer)


def _claim_segments(
    hl_number: int, to_send: ClaimToSend, fees: FeeSchedules, payers: Mapping[str, PayerInfo]
) -> list[str]:
    claim, referral, subscriber = to_send.claim, to_send.referral, to_send.subscriber
    payer = payers.get(referral.payer_id, PayerInfo(referral.payer_id))
    if not referral.member_ref:
        raise ValueError(f"{claim.episode_id}: the referral has no member_ref (the subscriber's member id)")
    diagnoses = [icd10(code) for code in referral.diagnosis_codes][:MAX_DIAGNOSES]
    if not diagnoses:
        raise ValueError(f"{claim.episode_id}: the referral has no diagnosis code")
    if len(to_send.claim_id) > MAX_PATIENT_CONTROL_NUMBER:
        raise ValueError(f"claim_id {to_send.claim_id!r} is longer than CLM01's {MAX_PATIENT_CONTROL_NUMBER}")
    lines = to_send.lines
    charges = [line_charge(line, referral.payer_id, fees) for line in lines]
    last, first = person_name(referral.prescriber_name)
    segments = [
        _segment("HL", str(hl_number), "1", "22", "0"),
        _segment("SBR", "P", "18", "", referral.plan or "", "", "", "", "", payer.claim_filing_code),
        _name("IL", PERSON, subscriber.last_name, subscriber.first_name, "MI", referral.member_ref),
        *_address(subscriber.address),
        _segment("DMG", "D8", subscriber.birth_date.strftime("%Y%m%d"), subscriber.sex),
        _name("PR", ORGANIZATION, payer.name, "", "PI", referral.payer_id),
        _segment(
            "CLM",
            to_send.claim_id,
            amount(sum(charges, Decimal(0))),
            "",
            "",
            (HOME, "B", FREQUENCY[claim.action]),
            "Y",
            "A",
            "Y",
            "Y",
        ),
        *([_segment("REF", "F8", claim.replaces)] if claim.replaces else []),
        _segment(
            "HI",
            *(("ABK" if i == 0 else "ABF", code) for i, code in enumerate(diagnoses)),
        ),
        _name("DN", PERSON, last, first, "XX", referral.prescriber_npi),
    ]
    for number, (line, charge) in enumerate(zip(lines, charges, strict=True), start=1):
        segments += [
            _segment("LX", str(number)),
            _segment("SV1", ("HC", line.code), amount(charge), "UN", str(line.units), HOME, "", "1"),
            _segment(
                "DTP", "472", "RD8", f"{line.from_date.strftime('%Y%m%d')}-{line.to_date.strftime('%Y%m%d')}"
            ),
            *([_segment("REF", "G1", line.authorization)] if line.authorization else []),
            _name("DK", PERSON, last, first, "XX", referral.prescriber_npi),
        ]
    return segments


def _name(
    entity: str, kind: str, last_or_organization: str, first: str, qualifier: str, identifier: str
) -> str:
    return _segment("NM1", entity, kind, last_or_organization, first, "", "", "", qualifier, identifier)


def _isa(interchange: Interchange, control: str) -> str:
    """The interchange header: fixed-width elements, and the separators themselves (ISA11, ISA16)."""
    created = interchange.created_at
    elements = [
        "ISA", "00", " " * 10, "00", " " * 10,
        "ZZ", f"{_text('sender_id', interchange.sender_id, 15):<15}",
        "ZZ", f"{_text('receiver_id', interchange.receiver_id, 15):<15}",
        created.strftime("%y%m%d"), created.strftime("%H%M"), REPETITION, "00501", control,
        "0", "P" if interchange.production else "T", COMPONENT,
    ]  # fmt: skip
    return ELEMENT.join(elements) + TERMINATOR


def _address(address: Address) -> list[str]:
    return [
        _segment("N3", address.line, address.line2 or ""),
        _segment("N4", address.city, address.state, address.postal_code),
    ]


# One search per value: a month's file checks millions of them (a generator of `in` tests per
# delimiter took 60% of the time writing 20,000 claims).
_DELIMITER = re.compile("[" + re.escape(ELEMENT + COMPONENT + REPETITION + TERMINATOR) + "\n\r]")


def _text(name: str, value: str, max_length: int | None = None) -> str:
    if _DELIMITER.search(value):
        raise ValueError(f"{name} {value!r} holds an X12 delimiter")
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"{name} {value!r} is longer than {max_length}")
    return value


def _segment(segment_id: str, *elements: str | tuple[str, ...]) -> str:
    """A segment with its trailing empty elements dropped; a tuple is a composite element. Every
    value is checked: a delimiter inside one would shift every field after it."""
    values = [
        COMPONENT.join(_text(segment_id, part) for part in value) if isinstance(value, tuple)
        else _text(segment_id, value)
        for value in elements
    ]  # fmt: skip
    while values and values[-1] == "":
        values.pop()
    return ELEMENT.join([segment_id, *values]) + TERMINATOR
