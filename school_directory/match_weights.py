"""The match weights: the documented m and u probabilities of ``match_weights.json`` as
bits per field level (Fellegi-Sunter), the prior, and the term-frequency adjustment that
makes an exact agreement on a rare name count for more (``rarity_bits``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: verdicts are cached
class Weights:
    prior_bits: float
    bits: dict[str, dict[str, float]]
    # Term frequencies: the u of an exact agreement by field, and how the roll's counts
    # are smoothed and bounded (``rarity_bits``).
    exact_u: dict[str, float] = field(default_factory=dict)
    # m by field and level: how often the same child is recorded at that level.
    m: dict[str, dict[str, float]] = field(default_factory=dict)
    pseudo_pupils: float = 0.0
    rarity_range: tuple[float, float] = (0.0, 0.0)

    def of(self, field_name: str, level: str) -> float:
        return self.bits[field_name][level]


@cache
def load_weights(text: str | None = None) -> Weights:
    """The documented m/u file shipped with the package, or ``text`` in the same form."""
    source = text or resources.files("school_directory").joinpath("match_weights.json")
    raw: dict[str, Any] = json.loads(source if isinstance(source, str) else source.read_text())
    prior = float(raw["prior_match_probability"])
    bits = {
        name: {
            level: math.log2(float(mu["m"]) / float(mu["u"]))
            for level, mu in levels.items()
            if not level.startswith("_")
        }
        for name, levels in raw["fields"].items()
    }
    fields = raw["fields"]
    tf = raw.get("term_frequency", {})
    m = {
        name: {level: float(mu["m"]) for level, mu in levels.items() if not level.startswith("_")}
        for name, levels in fields.items()
    }
    return Weights(
        math.log2(prior / (1 - prior)),
        bits,
        m=m,
        exact_u={f: float(fields[f]["exact"]["u"]) for f in ("family_name", "given_name")},
        pseudo_pupils=float(tf.get("pseudo_pupils", 0.0)),
        rarity_range=(float(tf.get("min_bits", 0.0)), float(tf.get("max_bits", 0.0))),
    )


@dataclass(frozen=True)
class Rarity:
    """Bits added to an exact agreement on this child's family name and first given
    name: positive for a name rarer than average on the roll, negative for a common one.
    With the roll's counts, also the names' shares of the roll and the roll's size, for
    the chance of a namesake (``matching.namesake_chance``); None without counts."""

    family_bits: float = 0.0
    given_bits: float = 0.0
    family_share: float | None = None
    given_share: float | None = None
    roll: int = 0


def name_share(pupils: int, roll: int, weights: Weights, field_name: str) -> float:
    """The share of the roll with this name: ``pupils`` of ``roll``, smoothed towards the
    weights file's average u by ``pseudo_pupils`` imaginary pupils (a small roll says
    little about rarity)."""
    average = weights.exact_u[field_name]
    pseudo = weights.pseudo_pupils
    return (pupils + pseudo * average) / (roll + pseudo)


def rarity_bits(pupils: int, roll: int, weights: Weights, field_name: str) -> float:
    """Term-frequency adjustment: an exact agreement on a name has u = its share of the
    roll (``name_share``), not the average u of the weights file; the adjustment is kept
    within ``rarity_range``."""
    if roll <= 0 or weights.pseudo_pupils <= 0:
        return 0.0
    u = name_share(pupils, roll, weights, field_name)
    low, high = weights.rarity_range
    return max(low, min(high, math.log2(weights.exact_u[field_name] / u)))
