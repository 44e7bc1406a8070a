"""The JSON API's bodies and answers (``console.api``): what its OpenAPI document shows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)
    # The second factor, for accounts that have one: a TOTP code or a recovery code.
    code: str | None = Field(default=None, max_length=64)


class SignInToken(BaseModel):
    csrf_token: str


class SessionInfo(BaseModel):
    username: str
    role: str
    csrf_token: str


class Candidate(BaseModel):
    upn: str
    urn: str
    score: float


class QueueItem(BaseModel):
    notification_id: str
    incident_id: str
    person_id: str
    status: str
    deliver_by: str
    urn: str | None
    upn: str | None
    claimed_by: str | None
    release_grade: bool
    candidates: list[Candidate]


class NotificationDetail(QueueItem):
    reason: str
    preview_subject: str | None
    preview_text: str | None


class Approval(BaseModel):
    upn: str | None = Field(default=None, max_length=13)
    urn: str | None = Field(default=None, max_length=16)


class Rematch(BaseModel):
    upn: str = Field(min_length=1, max_length=13)
    urn: str | None = Field(default=None, max_length=16)


class Routing(BaseModel):
    """A child on no roll, to the home council's officer (consumers/routes.py)."""

    to: Literal["ehe", "cme"]


class BulkApproval(BaseModel):
    notification_ids: list[str] = Field(min_length=1, max_length=200)


class BulkOutcome(BaseModel):
    approved: list[str]
    refused: dict[str, str]


class Rejection(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class AccountEdit(BaseModel):
    account: str = Field(min_length=1, max_length=20_000)


class Outcome(BaseModel):
    notification_id: str
    status: str
    message: str


class Problem(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem},
    409: {"model": Problem}, 422: {"model": Problem}, 429: {"model": Problem},
}  # fmt: skip
