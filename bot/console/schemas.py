"""Request bodies of the console API: shapes checked (pydantic, strict) before anything acts on them.

Errors are turned into Japanese, per field, by `bot.console.texts.validation_messages`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from bot.security import has_control

TEXT_MAX = 5000  # a message to the user
NOTE_MAX = 5000  # a counselor's note: refused above this, never silently cut
REASON_MAX = 300  # kept in the audit log too


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    @field_validator("*")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        if isinstance(value, str) and has_control(value):
            raise ValueError("control characters (such as U+0000) are not allowed")
        return value


class MessageIn(Body):
    text: Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX)]


class NoteIn(Body):
    text: Annotated[str, StringConstraints(min_length=1, max_length=NOTE_MAX)]


class CloseIn(Body):
    disposition: Annotated[str, StringConstraints(max_length=40)]
    referral: Annotated[str, StringConstraints(max_length=40)] | None = None
    referral_org: Annotated[str, StringConstraints(max_length=40)] | None = None  # a member: send its card


class TransferIn(Body):
    to: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = None  # a colleague's login
    to_organization: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None  # a member
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None


class CannedIn(Body):
    title: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX)]
    scope: Literal["organization", "personal"] = "organization"


class ReadIn(Body):
    message_id: Annotated[int, Field(ge=0, le=2**31 - 1)]


class ReopenIn(Body):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=REASON_MAX)]


class LabelIn(Body):
    label_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    on: bool


# --- the management pages' forms (strings from HTML forms: not strict, whitespace stripped) -----------


class Form(BaseModel):
    model_config = ConfigDict(strict=False, extra="ignore", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        if isinstance(value, str) and has_control(value):
            raise ValueError("control characters (such as U+0000) are not allowed")
        return value


class CannedForm(Form):
    title: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX)]


class LabelForm(Form):
    name: Annotated[str, StringConstraints(min_length=1, max_length=40)]


class StaffForm(Form):
    """What an admin sets for an account: role, organization, display name, chat limit (blank: default)."""

    display_name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    role: Literal["counselor", "coordinator", "consortium", "admin"]
    organization: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    max_active: Annotated[int, Field(ge=1, le=10)] | None = None

    @field_validator("max_active", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any) -> Any:
        return None if value in ("", None) else value


class NewStaffForm(StaffForm):
    login: Annotated[str, StringConstraints(min_length=3, max_length=80, pattern=r"^[A-Za-z0-9._-]+$")]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    password_again: Annotated[str, StringConstraints(max_length=1024)] = ""


class PasswordForm(Form):
    model_config = ConfigDict(strict=False, extra="ignore", str_strip_whitespace=False)

    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    password_again: Annotated[str, StringConstraints(max_length=1024)] = ""


class OwnPasswordForm(PasswordForm):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
