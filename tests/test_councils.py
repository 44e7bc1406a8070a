"""Councils: one TOML file per council, checked when a process starts (docs/councils.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundations.councils import CouncilError, Handling, councils_for, load_councils
from foundations.settings import ReviewPolicy, Settings

HAMPSHIRE = """
la_code = "850"
name = "Hampshire"
postcode_prefixes = ["SO", "GU51"]
lead = true
review_policy = "auto_release_exact"
[first_response]
name = "Hampshire Front Door"
email = "front.door@hants.test"
phone = "0300 555 0001"
duty_email = "duty@hants.test"
"""
PORTSMOUTH = """
la_code = "851"
name = "Portsmouth"
postcode_prefixes = ["PO1", "PO2"]
[first_response]
name = "Portsmouth MASH"
email = "mash@portsmouth.test"
phone = "0300 555 0002"
"""
NEIGHBOUR = """
la_code = "673"
name = "A Welsh neighbour"
kind = "neighbour"
handling = "first_response"
[first_response]
name = "Neighbour IAA"
email = "iaa@neighbour.test"
phone = "0300 555 0003"
"""


def folder(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_each_council_has_its_own_first_response_duty_inbox_and_policy(tmp_path: Path) -> None:
    councils = load_councils(folder(tmp_path, **{"850": HAMPSHIRE, "851": PORTSMOUTH}))
    assert councils.scoped
    assert councils.first_response("851").name == "Portsmouth MASH"
    assert councils.duty_inboxes() == {"850": "duty@hants.test", "851": "mash@portsmouth.test"}
    assert councils.review_policy("850", ReviewPolicy.ALL) is ReviewPolicy.AUTO_RELEASE_EXACT
    assert councils.review_policy("851", ReviewPolicy.ALL) is ReviewPolicy.ALL


def test_home_council_is_the_longest_postcode_prefix_else_the_lead(tmp_path: Path) -> None:
    councils = load_councils(folder(tmp_path, **{"850": HAMPSHIRE, "851": PORTSMOUTH}))
    assert councils.home("po1 3ab").la_code == "851"
    assert councils.home("SO23 8UJ").la_code == "850"
    assert councils.home("ZZ9 9ZZ").la_code == "850"  # the lead: someone always reads it
    assert councils.home(None).la_code == "850"


def test_a_neighbour_says_how_its_schools_are_told(tmp_path: Path) -> None:
    councils = load_councils(folder(tmp_path, **{"850": HAMPSHIRE, "673": NEIGHBOUR}))
    neighbour = councils.neighbour("673")
    assert neighbour is not None and neighbour.handling is Handling.FIRST_RESPONSE
    assert councils.member("673") is None
    assert councils.first_response("673").email == "iaa@neighbour.test"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"850": HAMPSHIRE.split("[first_response]")[0]}, "first_response"),
        ({"850": HAMPSHIRE, "851": PORTSMOUTH.replace('"851"\n', '"851"\nlead = true\n')}, "lead"),
        ({"850": HAMPSHIRE, "851": PORTSMOUTH.replace("PO1", "SO")}, "postcode prefix"),
        ({"851": HAMPSHIRE}, "850.toml"),
        ({"850": HAMPSHIRE.replace('"850"', '"85"')}, "la_code"),
        ({"850": HAMPSHIRE + "\nsurprise = 1\n"}, "surprise"),
        ({"850": HAMPSHIRE.replace("front.door@hants.test", "nobody")}, "email"),
        (
            {"850": HAMPSHIRE, "673": NEIGHBOUR.replace('handling = "first_response"', "")},
            "handling",
        ),
        ({"673": NEIGHBOUR}, "no member council"),
        ({"850": "la_code = "}, "not valid TOML"),
    ],
)
def test_a_council_file_that_cannot_be_used_stops_the_start(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    with pytest.raises(CouncilError, match=message):
        load_councils(folder(tmp_path, **files))


def test_without_a_councils_folder_the_deployment_is_one_council() -> None:
    councils = councils_for(Settings(first_response_name="Front Door", _env_file=None))  # type: ignore[call-arg]
    assert not councils.scoped
    assert councils.first_response("850").name == "Front Door"
    assert councils.home("SO23 8UJ").la_code is None


def test_a_notification_belongs_to_its_schools_council_else_the_childs_home(
    tmp_path: Path,
) -> None:
    councils = load_councils(
        folder(tmp_path, **{"850": HAMPSHIRE, "851": PORTSMOUTH, "673": NEIGHBOUR})
    )
    assert councils.owner("851", "SO23 8UJ") == "851"  # a Hampshire child at a Portsmouth school
    assert councils.owner("673", "PO1 3AB") == "851"  # at a neighbour's school: home council
    assert councils.owner(None, "PO2 1AA") == "851"  # no school: home council
    assert councils.owner("886", None) == "850"  # a council with no file, no postcode: the lead
