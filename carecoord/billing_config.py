"""The pharmacy's billing configuration for the 837P: read from the TOML file that
`CARECOORD_BILLING_CONFIG` names (deploy/billing.example.toml shows every key).

It holds what the events do not: the billing provider (name, NPI, tax id, address, contact), the
interchange's sender and receiver, the fee schedule per HCPCS code (a default one and, per payer,
the codes priced otherwise) and each payer's name and claim filing indicator. Prices are written
as strings ("55.50") or whole numbers: they become Decimals, never binary floats.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from carecoord.config import BILLING_CONFIG_ENV, ConfigError
from projections.core.x12_837p import Address, BillingProvider, FeeSchedules, PayerInfo


@dataclass(frozen=True, slots=True)
class BillingConfig:
    provider: BillingProvider
    sender_id: str  # ISA06 / GS02, agreed with the receiver
    receiver_id: str
    receiver_name: str
    production: bool  # ISA15: P when true, T (a test file) when false
    fees: FeeSchedules
    payers: dict[str, PayerInfo]


class _Table:
    """One TOML table, read with errors that name the file and the key."""

    def __init__(self, data: Any, where: str, path: Path) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: [{where}] must be a table")
        self.data, self.where, self.path = data, where, path

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.path}: {self.where}.{key} must be a non-empty string")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if key in self.data else None

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.path}: {self.where}.{key} must be true or false")
        return value

    def table(self, key: str, default: dict[str, Any] | None = None) -> _Table:
        if key not in self.data and default is None:
            raise ConfigError(f"{self.path}: [{self.where}.{key}] is missing")
        return _Table(self.data.get(key, default), f"{self.where}.{key}".lstrip("."), self.path)

    def prices(self) -> dict[str, Decimal]:
        prices = {}
        for code, value in self.data.items():
            try:
                if isinstance(value, bool) or not isinstance(value, str | int | float):
                    raise InvalidOperation
                price = Decimal(str(value))
            except InvalidOperation:
                wanted = 'a price, e.g. "55.50"'
                raise ConfigError(f"{self.path}: {self.where}.{code} must be {wanted}") from None
            if not price.is_finite() or price < 0:
                raise ConfigError(f"{self.path}: {self.where}.{code} must be a price of 0 or more")
            prices[code] = price
        return prices


def load_billing_config(path: Path) -> BillingConfig:
    """The configuration in `path`; ConfigError naming the file and the key when it does not fit."""
    try:
        with path.open("rb") as file:
            root = _Table(tomllib.load(file), "", path)
    except OSError as error:
        raise ConfigError(f"{BILLING_CONFIG_ENV}: cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not TOML: {error}") from None
    provider = root.table("billing_provider")
    address = provider.table("address")
    interchange = root.table("interchange")
    fees = root.table("fees")
    by_payer = fees.table("payers", {})
    payers = root.table("payers", {})
    return BillingConfig(
        provider=BillingProvider(
            name=provider.text("name"),
            npi=provider.text("npi"),
            tax_id=provider.text("tax_id"),
            address=Address(
                address.text("line"),
                address.text("city"),
                address.text("state"),
                address.text("postal_code"),
                address.optional_text("line2"),
            ),
            contact_name=provider.text("contact_name"),
            contact_phone=provider.text("contact_phone"),
            taxonomy=provider.optional_text("taxonomy"),
        ),
        sender_id=interchange.text("sender_id"),
        receiver_id=interchange.text("receiver_id"),
        receiver_name=interchange.text("receiver_name"),
        production=interchange.flag("production", False),
        fees=FeeSchedules(
            default=fees.table("default").prices(),
            by_payer={payer: by_payer.table(payer).prices() for payer in by_payer.data},
        ),
        payers={
            payer: PayerInfo(
                payers.table(payer).text("name"),
                payers.table(payer).text("claim_filing_code", "CI"),
            )
            for payer in payers.data
        },
    )
