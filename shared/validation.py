"""Input validation with pydantic, reported as one BAD_USER_INPUT error listing every field."""

import uuid
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from shared.errors import BadUserInput

ModelT = TypeVar("ModelT", bound=BaseModel)


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
