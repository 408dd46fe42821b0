"""What a valid event looks like."""

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from shared.errors import BadUserInput
from shared.validation import CountryCode, OptionalText, OptionalUrl, Tags

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("must include a timezone offset, e.g. 2026-05-01T18:30:00+02:00")
    return value


AwareDateTime = Annotated[datetime | None, AfterValidator(_aware)]


class EventFields(BaseModel):
    """An event as createEvent takes it, and as updateEvent leaves it once merged."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: OptionalText = Field(default=None, max_length=10_000)
    category: str
    tags: Tags = Field(default=None, max_length=10)
    starts_at: AwareDateTime
    ends_at: AwareDateTime
    venue_name: OptionalText = Field(default=None, max_length=200)
    venue_address: OptionalText = Field(default=None, max_length=300)
    city: OptionalText = Field(default=None, max_length=100)
    country: CountryCode = None
    online_url: OptionalUrl = None
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    cover_image_url: OptionalUrl = None
    registration_opens_at: AwareDateTime = None
    registration_closes_at: AwareDateTime = None
    requires_approval: bool = False

    @field_validator("starts_at", "ends_at")
    @classmethod
    def required(cls, value: datetime | None) -> datetime | None:
        if value is None:
            raise ValueError("is required")
        return value


def check_consistency(event: EventFields) -> None:
    """Rules across fields, each reported against the field to correct."""
    problems: dict[str, str] = {}
    if event.starts_at and event.ends_at and event.ends_at <= event.starts_at:
        problems["endsAt"] = "must be after startsAt"
    closes, opens = event.registration_closes_at, event.registration_opens_at
    if closes and event.starts_at and closes > event.starts_at:
        problems["registrationClosesAt"] = "must be at or before startsAt"
    if opens and closes and opens >= closes:
        problems["registrationOpensAt"] = "must be before registrationClosesAt"
    if not event.online_url and not (event.venue_name and event.city and event.country):
        problems["venue"] = "give a venue (venueName, city and country) or an onlineUrl"
    if problems:
        summary = "; ".join(f"{field}: {message}" for field, message in problems.items())
        raise BadUserInput(f"Invalid input — {summary}", fields=problems)
