"""Input validation with pydantic, reported as one BAD_USER_INPUT error listing every field."""

import uuid
from typing import Annotated, Any, TypeVar

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    HttpUrl,
    UrlConstraints,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from shared.errors import BadUserInput

ModelT = TypeVar("ModelT", bound=BaseModel)


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


CountryCode = Annotated[OptionalText, AfterValidator(_country_code)]
OptionalUrl = Annotated[
    Annotated[HttpUrl, UrlConstraints(max_length=2048, allowed_schemes=["https", "http"])] | None,
    BeforeValidator(_clean_text),
]


def validate_input(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = {
            ".".join(to_camel(str(part)) for part in error["loc"]) or "input": error[
                "msg"
            ].removeprefix("Value error, ")
            for error in exc.errors()
        }
        summary = "; ".join(f"{name}: {message}" for name, message in fields.items())
        raise BadUserInput(f"Invalid input — {summary}", fields=fields) from None


def check_page_size(first: int, maximum: int = 100) -> int:
    if not 1 <= first <= maximum:
        raise BadUserInput(f"first must be between 1 and {maximum}", field="first")
    return first


def parse_id(value: object, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadUserInput(f"'{value}' is not a valid id", field=field) from None
