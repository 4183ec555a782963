"""What every domain's forms share: putting a service's refusal beside the fields."""
from __future__ import annotations

from flask import flash
from wtforms.fields.choices import SelectChoice

from app.errors import ServiceError


def show_service_errors(form, error: ServiceError) -> None:
    """Put each field message of `error` beside its form field; flash the rest.

    The flash always carries the overall message too, so that a user who does not see the
    field (a long form) still learns that nothing was saved.
    """
    unplaced = []
    for name, message in error.fields.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + [message]
        else:
            unplaced.append(str(message))
    flash(" ".join([str(error.message), *unplaced]), "danger")


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms options."""
    return [SelectChoice(value, label) for value, label in pairs]
