"""The answers of the biller's endpoints, as the OpenAPI document describes them: a period's claims
shaped like claims.md's `claims` entries (with the corrections of a REPLACE or VOID beside them),
and what a submission recorded. The endpoints write these documents themselves
(`projections.core.claim_actions.claim_document`, `claim_changes.changes_document`); these models
say what they hold."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class LineOut(_Out):
    code: str
    from_: str = Field(alias="from")
    to: str
    units: int
    authorization: str | None


class ReauthorizedOut(_Out):
    day: str
    was: str | None
    now: str | None


class LineChangesOut(_Out):
    days_added: list[str]
    days_removed: list[str]
    days_reauthorized: list[ReauthorizedOut]
    lines_added: list[LineOut]
    lines_removed: list[LineOut]


class EventRefOut(_Out):
    event_id: str
    event_type: str
    episode_id: str
    recorded_at: str


class ChangeStepOut(_Out):
    recorded_at: str = Field(description="when these events were recorded (together)")
    events: list[EventRefOut]
    changes: LineChangesOut


class ClaimChangesOut(_Out):
    claim_id: str = Field(description="the standing claim, the one to replace or void")
    claim_recorded_at: str
    sent_as_known: bool = Field(description="false: sent with other lines than were computable then")
    since_sent: LineChangesOut
    steps: list[ChangeStepOut] = Field(description="each later recorded instant that changed the lines")


class PeriodClaimOut(_Out):
    episode_id: str
    patient_ref: str
    payer_id: str
    action: str = Field(description="NEW, REPLACE, VOID or NONE")
    replaces: str | None
    lines: list[LineOut] = Field(description="the current lines")
    submitted_lines: list[LineOut] = Field(description="the standing claim's lines as sent")
    changes: ClaimChangesOut | None = Field(
        default=None, description="REPLACE and VOID only: what made the sent claim wrong (null: unexplained)"
    )


class PeriodClaimsOut(_Out):
    period: str
    as_of: str | None
    claims: list[PeriodClaimOut]


class SubmittedOut(_Out):
    episode_id: str
    period: str
    action: str = Field(description="the action the claim answered: NEW, REPLACE or VOID")
    claim_id: str
    frequency: str = Field(description="original, replacement or void")
    replaces: str | None
    submitted_on: str
    lines: list[LineOut]
