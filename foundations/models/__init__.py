"""Every table of the broker, grouped by aggregate. Importing this package registers them all on
``Base.metadata`` (foundations.database); ``metadata`` is that, full, for the migrations, the
key rotation and the key canary."""

from foundations.database import Base
from foundations.models.audit import AuditEvent, ChainCheck, Checkpoint, RelayCursor
from foundations.models.bounces import Bounce, BounceKind
from foundations.models.calendar import BankHoliday, CalendarEntry
from foundations.models.console import ConsoleSession, ConsoleUser, RecoveryCode, SignInThrottle
from foundations.models.directory import (
    MATCH_RECORD,
    OPEN_STATUSES,
    CouncilContact,
    NameFrequency,
    Pupil,
    SafeguardingContact,
    School,
    SchoolNameWord,
)
from foundations.models.identity import DatabaseIdentity
from foundations.models.incidents import Incident, IncidentOutcome
from foundations.models.notifications import (
    REVIEWABLE_STATUSES,
    UNSENT_STATUSES,
    AccountStatus,
    DirectorySearch,
    EscalationStatus,
    EscalationStep,
    Notification,
    NotificationEdit,
    NotificationRoute,
    NotificationStatus,
    notification_id,
)

metadata = Base.metadata

__all__ = [
    "MATCH_RECORD",
    "OPEN_STATUSES",
    "REVIEWABLE_STATUSES",
    "UNSENT_STATUSES",
    "AccountStatus",
    "AuditEvent",
    "BankHoliday",
    "Bounce",
    "BounceKind",
    "CalendarEntry",
    "ChainCheck",
    "Checkpoint",
    "ConsoleSession",
    "ConsoleUser",
    "CouncilContact",
    "DatabaseIdentity",
    "DirectorySearch",
    "EscalationStatus",
    "EscalationStep",
    "Incident",
    "IncidentOutcome",
    "NameFrequency",
    "Notification",
    "NotificationEdit",
    "NotificationRoute",
    "NotificationStatus",
    "Pupil",
    "RecoveryCode",
    "RelayCursor",
    "SafeguardingContact",
    "School",
    "SchoolNameWord",
    "SignInThrottle",
    "metadata",
    "notification_id",
]
