"""What a valid account and profile look like."""

from typing import Annotated, Any

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    StringConstraints,
    UrlConstraints,
    field_validator,
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _clean_text(value: Any) -> Any:
    """Trimmed text; blank text means no value."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def _normalise_tags(tags: list[str] | None) -> list[str]:
    """Tags compare case-insensitively: stored trimmed, single-spaced, lowercase, once each."""
    seen: dict[str, None] = {}
    for tag in tags or []:
        normalised = " ".join(tag.split()).lower()
        if not normalised:
            raise ValueError("tags cannot be empty")
        if len(normalised) > 50:
            raise ValueError(f"tag '{normalised[:20]}…' is longer than 50 characters")
        seen.setdefault(normalised, None)
    return list(seen)


OptionalText = Annotated[str | None, BeforeValidator(_clean_text)]
Tags = Annotated[list[str] | None, AfterValidator(_normalise_tags)]


def _country_code(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, such as FR or US")
    return code


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=8, max_length=128)
    name: Name

    @field_validator("email")
    @classmethod
    def lowercase_email(cls, value: str) -> str:
        return value.lower()


class ProfileChanges(BaseModel):
    """The fields of `updateProfile`; only the ones the client sent are applied."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    headline: OptionalText = Field(default=None, max_length=140)
    bio: OptionalText = Field(default=None, max_length=2000)
    company: OptionalText = Field(default=None, max_length=100)
    job_title: OptionalText = Field(default=None, max_length=100)
    industry: OptionalText = Field(default=None, max_length=100)
    seniority: str | None = None
    city: OptionalText = Field(default=None, max_length=100)
    country: Annotated[OptionalText, AfterValidator(_country_code)] = None
    skills: Tags = Field(default=None, max_length=30)
    interests: Tags = Field(default=None, max_length=30)
    offers: Tags = Field(default=None, max_length=20)
    seeks: Tags = Field(default=None, max_length=20)
    avatar_url: Annotated[
        Annotated[HttpUrl, UrlConstraints(max_length=2048, allowed_schemes=["https", "http"])]
        | None,
        BeforeValidator(_clean_text),
    ] = None
    visibility: str | None = None

    @field_validator("name", "visibility")
    @classmethod
    def required_when_given(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("cannot be cleared")
        return value
