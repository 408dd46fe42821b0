"""What a valid account and profile look like."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from shared.validation import CountryCode, OptionalText, OptionalUrl, Tags

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


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
    country: CountryCode = None
    skills: Tags = Field(default=None, max_length=30)
    interests: Tags = Field(default=None, max_length=30)
    offers: Tags = Field(default=None, max_length=20)
    seeks: Tags = Field(default=None, max_length=20)
    avatar_url: OptionalUrl = None
    visibility: str | None = None

    @field_validator("name", "visibility")
    @classmethod
    def required_when_given(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("cannot be cleared")
        return value
