"""Directory tables: schools (GIAS), safeguarding contacts, pupils, name frequencies."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foundations.crypto import BlindIndex, EncryptedDate, EncryptedJSON, EncryptedText, bound_to
from foundations.database import Base, UtcDateTime

OPEN_STATUSES = frozenset({"Open", "Open, but proposed to close"})


class School(Base):
    __tablename__ = "schools"

    urn: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    la_code: Mapped[str] = mapped_column(String(8), index=True)
    la_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(60))
    phase: Mapped[str] = mapped_column(String(60), default="")
    type: Mapped[str] = mapped_column(String(100), default="")
    postcode: Mapped[str] = mapped_column(String(10), default="")
    day_start: Mapped[str | None] = mapped_column(String(5), nullable=True)
    # GIAS's ``NumberOfPupils`` (the school census), when the extract has it: what the
    # directory's health compares the imported roll with (school_directory.health).
    number_of_pupils: Mapped[int | None] = mapped_column(Integer, nullable=True)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class SchoolNameWord(Base):
    """Each distinctive word of each school's name (``names.school_words``), rebuilt by the
    schools import: the officer's school hint is an indexed lookup, not a scan of every
    school's name (twenty-odd thousand in England)."""

    __tablename__ = "school_name_words"

    word: Mapped[str] = mapped_column(String(60), primary_key=True)
    urn: Mapped[str] = mapped_column(ForeignKey("schools.urn"), primary_key=True)


class SafeguardingContact(Base):
    __tablename__ = "safeguarding_contacts"
    __table_args__ = (UniqueConstraint("urn", "role", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    urn: Mapped[str] = mapped_column(ForeignKey("schools.urn"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # dsl | deputy_dsl
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(40), default="")
    # When this address was last confirmed: named in a contacts import, or a link sent to
    # it acknowledged by this role at this school. None: never (rows from before 0020).
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CouncilContact(Base):
    """A council's designated officer for children on no roll (``encompass directory
    import --council-contacts``): ``ehe`` (elective home education) or ``cme`` (children
    missing education), one per council and role (migration 0023)."""

    __tablename__ = "council_contacts"
    __table_args__ = (UniqueConstraint("la_code", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    la_code: Mapped[str] = mapped_column(String(8), index=True)
    role: Mapped[str] = mapped_column(String(8))  # ehe | cme
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))


# What ``Pupil.match_record`` holds, in order (the date of birth as ISO text).
MATCH_RECORD = ("given_names", "family_name", "preferred_name", "date_of_birth", "gender",
                "postcode")  # fmt: skip
# A seventh, the NHS number, follows only when the pupil has one (a record without one is
# as it was before the NHS number was read).


class Pupil(Base):
    """One pupil record on one school's roll. A dual-registered child has two."""

    __tablename__ = "pupils"
    __table_args__ = (
        # One row per (UPN, URN), as a named index, not a table constraint: the first roll
        # drops it with the others and builds it once, at the end (school_directory/imports.py).
        Index("uq_pupils_upn_urn", "upn", "urn", unique=True),
        # Blocking keys of the scored matcher (school_directory.blocking): every candidate
        # search is one of these index lookups, never a scan of the roll. Each key is a
        # blind index (foundations.crypto.BlindIndex): equal values stay equal, nothing readable.
        Index("ix_pupils_family_key_dob", "family_key", "dob_key"),
        Index("ix_pupils_given_key_dob", "given_key", "dob_key"),
        Index("ix_pupils_keys_dob", "family_key", "given_key", "dob_key"),
        # both keys and the birth year, then the postcode's district: a common name's
        # namesakes born that year are read only in the child's district (migration 0026)
        Index(
            "ix_pupils_keys_year_district",
            "family_key",
            "given_key",
            "birth_year_key",
            "district_key",
        ),
        Index("ix_pupils_postcode_dob", "postcode_key", "dob_key"),
        # the officer's school hint: a school's pupils by birth year, filtered by the
        # sound keys inside the index (covering), so no table row is read to filter
        Index("ix_pupils_urn_year_keys", "urn", "birth_year_key", "family_key", "given_key"),
        Index("ix_pupils_dob", "dob_key"),
        # the child's NHS number: a pupil found by it whatever the names and date say
        Index("ix_pupils_nhs_key", "nhs_key"),
        # The personal fields are bound to the pupil's UPN and school (foundations.crypto).
        bound_to("upn", "urn"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    upn: Mapped[str] = mapped_column(String(13), index=True)
    urn: Mapped[str] = mapped_column(ForeignKey("schools.urn"), index=True)
    # Personal data, encrypted at rest with the engine's data key.
    given_names: Mapped[str] = mapped_column(EncryptedText)
    family_name: Mapped[str] = mapped_column(EncryptedText)
    preferred_name: Mapped[str] = mapped_column(EncryptedText, default="")
    date_of_birth: Mapped[date] = mapped_column(EncryptedDate)
    gender: Mapped[str] = mapped_column(EncryptedText, default="")
    postcode: Mapped[str] = mapped_column(EncryptedText, default="")
    # The same six fields sealed as one value, in the order of MATCH_RECORD: the matcher
    # decrypts one value per candidate, not six. None on rows imported before it existed.
    match_record: Mapped[list[str] | None] = mapped_column(EncryptedJSON, nullable=True)
    # The NHS number (ten digits, its check digit valid: foundations.nhs_number), when the
    # pupils file gives one; None otherwise. Also the last field of ``match_record``.
    nhs_number: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    on_roll_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    on_roll_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    # What the matcher looks up by, as blind indexes (see school_directory.names).
    dob_key: Mapped[str] = mapped_column(BlindIndex, default="")
    birth_year_key: Mapped[str] = mapped_column(BlindIndex, default="")
    postcode_key: Mapped[str] = mapped_column(BlindIndex, default="")
    # The postcode's district (its outward code, "SO23"); "" when the postcode has none, or
    # on a row imported before migration 0026 until an import names it again.
    district_key: Mapped[str] = mapped_column(BlindIndex, default="", server_default="")
    family_name_key: Mapped[str] = mapped_column(BlindIndex, default="")
    given_name_key: Mapped[str] = mapped_column(BlindIndex, default="")
    preferred_name_key: Mapped[str] = mapped_column(BlindIndex, default="")
    # Sound keys (names.family_key, names.given_key): Kowalski/Kovalski, Alfie/Alfred.
    family_key: Mapped[str] = mapped_column(BlindIndex, default="")
    given_key: Mapped[str] = mapped_column(BlindIndex, default="")
    nhs_key: Mapped[str] = mapped_column(BlindIndex, default="")  # "" when none is known


class NameFrequency(Base):
    """How many pupils on the roll share a name (a family name, a first given name), by
    its blind index; kind ``roll`` with an empty key holds the roll's size. The matcher
    weighs an exact agreement on a rare name more than on a common one (term-frequency
    adjustment, as Splink does). Rebuilt from the pupils table after each pupil import."""

    __tablename__ = "name_frequencies"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # family | given | roll
    key: Mapped[str] = mapped_column(BlindIndex, primary_key=True)
    pupils: Mapped[int] = mapped_column(Integer)
