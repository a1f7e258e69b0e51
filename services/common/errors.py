"""The errors a command can be refused with. Every refusal stores nothing."""

from __future__ import annotations


class DomainError(ValueError):
    """A command breaks a rule; the message says which, in words a coordinator understands."""


class InvalidCommand(DomainError):
    """A command's own values are wrong (a visit ending before it starts, no days supplied)."""


class NotFound(DomainError):
    """The command refers to something that was never recorded (a delivery, a complication)."""


class AlreadyRecorded(DomainError):
    """The command would record again something that may happen only once."""


class RuleViolated(DomainError):
    """The command does not fit what has already happened (a resume without a hold)."""


class EpisodeUnknown(NotFound):
    """No referral was received for the episode."""


class EpisodeClosed(RuleViolated):
    """The episode was declined, or discontinued before the command's date."""


class NotOnCareTeam(EpisodeUnknown):
    """The caller acts only on the episodes whose care team they are on, and this is not one. Worded
    as an unknown episode: the caller may not know that it exists."""
