"""Everything the live read models keep of a patient's episodes, from one settlement.

The live shell keeps, per episode, its read model through `through` (`project_patient`'s view:
ledger, claim lines, timeline), its worklist item spans (`worklist_spans`: right for any `today`)
and its claim for every period (`claim_actions`: what to submit, right whatever `today` is).
Each of these settles the patient on its own; here the patient is settled once, through the
furthest day any of them needs, and each reads what it needs from that one ledger:

- the ledger through a later day is the ledger through an earlier one with days added at its end
  (no day's reason depends on the end date; units are spent in date order), so the view's days are
  a prefix of it (`runs_through`);
- the spans need the ledger through the billing horizon (`billing_horizon`: no day after it is
  billable) or later;
- a period's current lines are the claim lines of a ledger through the period's end: through the
  horizon every S9363 line is known, and the nursing and drug lines after it need no ledger
  (`every_claim_line`). So every period's claim comes from the same settlement, however far on.

Only the view depends on `through`: the spans hold for every `today`, and each period's claim is
computed through the period's end whatever `through` is, for every period the episode has lines
in or a claim for (as far on as they go). So the daily refresh, which recomputes every episode
computed through an earlier day, finds spans and claims unchanged; no period has to be added or
dropped as `today` moves.

Pure, like the rest of the core: a function of the events and `through`. The tests hold
`record_patient(...)` equal to `project_patient`, `worklist_spans` and `patient_period_claims`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from events import Event
from projections.core.claim_actions import PeriodClaim, every_period_claim
from projections.core.claim_lines import every_claim_line
from projections.core.episode import EpisodeView, episode_view, establish_episodes
from projections.core.ledger import end_date, settle_patient
from projections.core.worklist import billing_horizon
from projections.core.worklist_facts import establish_worklist
from projections.core.worklist_spans import ItemSpan, patient_spans


@dataclass(frozen=True, slots=True)
class EpisodeRecord:
    """One episode as the live read models keep it."""

    view: EpisodeView  # through `through`: exactly `project_patient`'s
    spans: tuple[ItemSpan, ...]  # its worklist for every `today`, in `worklist_spans`' order
    claims: tuple[PeriodClaim, ...]  # its claim for every period it has lines in or a claim for

    @property
    def episode_id(self) -> str:
        return self.view.episode_id


def record_patient(episodes: Mapping[str, Iterable[Event]], through: date) -> list[EpisodeRecord]:
    """The records of one patient's episodes, by episode_id (an episode without its referral yet
    is left out). `episodes` as for `project_patient`: every episode of the patient."""
    events_of, facts_of = establish_episodes(episodes)
    patient = []
    for episode_id in sorted(facts_of):
        worklist_facts = establish_worklist(episode_id, events_of[episode_id], facts_of[episode_id])
        assert worklist_facts is not None  # it has its referral: it has facts
        patient.append(worklist_facts)
    horizon = billing_horizon(patient)
    furthest = max(through, horizon) if horizon is not None else through
    ledgers = settle_patient(facts_of.values(), furthest)
    spans_of: dict[str, list[ItemSpan]] = {}
    for span in patient_spans(patient, ledgers):
        spans_of.setdefault(span.episode_id, []).append(span)
    records = []
    for episode in patient:
        facts, episode_id = episode.facts, episode.episode_id
        ledger = ledgers[episode_id]
        view = episode_view(facts, events_of[episode_id], ledger, through)
        # The view's claim lines are the whole ledger's when it lists every day of it.
        whole = not ledger or ledger[-1].last <= end_date(facts, through).toordinal()
        lines = every_claim_line(facts, ledger, furthest, view.claim_lines if whole else None)
        claims = every_period_claim(view, lines, events_of[episode_id])
        records.append(EpisodeRecord(view, tuple(spans_of.get(episode_id, ())), tuple(claims)))
    return records
