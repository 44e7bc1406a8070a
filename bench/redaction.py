"""How much does minimisation let through to a school, how much does it hold for a person,
how much of a benign account does it keep, and how fast is it?

Runs the adversarial corpus of ``tests/redaction_corpus.py`` (3,300 accounts in 22
categories, each carrying details that must not reach a school, and 450 benign accounts)
through what decides the school's e-mail: ``minimise`` (the redacted account), the residual
check on that account, and the structured account when the officer's account is held. For
each category it prints:

- the hold rate: accounts the residual check held for a person;
- the leak rate among the e-mails released without a person: e-mails carrying at least one
  of the case's forbidden strings (compared without case or accents, spaces normalised, on
  word boundaries);
- on benign accounts (and the word senses of ``word_names``): the share of words kept, that
  is words of the officer's account that are not forbidden and that appear in the account,
  both in the redacted account and in the account sent without a person (the structured one
  when held), and the share of key facts kept ("arrested", "hid upstairs"...);
- the time per child (minimisation, residual check and, when held, the structured account),
  p50 and p99, and in the same run the baseline: ``redact()`` as it stood before issue 12
  (``bench/redaction_baseline.py``), so that noise on a shared machine can be judged.

Exits 1 if anything leaked, 2 if the residual check or the structured account is not
implemented yet (``--redact-only`` measures redaction alone: nothing is ever held).

    python bench/redaction.py [--seed 2026] [--limit N] [--redact-only] [--show-leaks]
                              [--json FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the corpus lives in tests/

import redaction_baseline

from tests.redaction_corpus import (
    ADVERSARIAL,
    BENIGN,
    CATEGORIES,
    DEFAULT_SEED,
    Case,
    corpus,
    fold,
    leaks,
    school_email,
)

WORD = r"[^\W_]+(?:'[^\W_]+)*"


def words(text: str) -> Counter[str]:
    return Counter(re.findall(WORD, fold(text)))


def kept_words(c: Case, account: str) -> tuple[int, int]:
    """(words of the officer's account that are not forbidden, how many of them are in
    ``account``), counted with repetition."""
    forbidden: set[str] = set()
    for secret in c.forbidden:
        forbidden.update(words(secret))
    original = Counter({w: n for w, n in words(c.incident.summary).items() if w not in forbidden})
    there = words(account)
    return sum(original.values()), sum(min(n, there[w]) for w, n in original.items())


def kept_facts(c: Case, account: str) -> int:
    folded = fold(account)
    return sum(fold(fact) in folded for fact in c.keep)


def stub_message(what: str) -> str:
    return (
        f"{what} is not implemented yet (it raises NotImplementedError): the e-mail released "
        "without a person cannot be measured. Run with --redact-only for the figures of "
        "redaction alone."
    )


def load(args: argparse.Namespace, sample: Case) -> tuple[Callable[..., Any] | None, ...]:
    """The residual check and structured account, or (None, None) for redaction alone."""
    if args.redact_only:
        return None, None
    from consumers.residual import residual_check
    from consumers.structured import structured_account

    incident, child = sample.incident, sample.child
    for what, call in (
        ("consumers.residual.residual_check", lambda: residual_check("", incident, child)),
        ("consumers.structured.structured_account", lambda: structured_account(incident, child)),
    ):
        try:
            call()
        except NotImplementedError:
            print(stub_message(what), file=sys.stderr)
            sys.exit(2)
    return residual_check, structured_account


def run(cases: list[Case], args: argparse.Namespace) -> list[dict[str, Any]]:
    check, structured = load(args, cases[0])
    for c in cases[: args.warm_up]:  # models loaded, caches filled: a consumer's steady state
        school_email(c, check=check, structured=structured)
        redaction_baseline.redact(c.incident.summary, c.incident, c.child)
    gc.collect()
    gc.freeze()  # the corpus is no part of a consumer's heap
    rows: list[dict[str, Any]] = []
    for n, c in enumerate(cases):
        child = c.child
        # Alternate which goes first, so that neither always pays for the other's garbage.
        if n % 2:
            started = time.perf_counter()
            redaction_baseline.redact(c.incident.summary, c.incident, child)
            baseline = time.perf_counter() - started
            out = school_email(c, check=check, structured=structured)
        else:
            out = school_email(c, check=check, structured=structured)
            started = time.perf_counter()
            redaction_baseline.redact(c.incident.summary, c.incident, child)
            baseline = time.perf_counter() - started
        leaked = leaks(c, out.rendered)
        total, kept = kept_words(c, out.redacted) if c.benign else (0, 0)
        _, sent = kept_words(c, out.notification.account) if c.benign else (0, 0)
        row = {
            "index": c.index,
            "category": c.category,
            "held": out.held,
            "reasons": sorted({str(getattr(s, "reason", "")) for s in out.suspects}),
            "leaked": leaked,
            "words": total,
            "words_kept": kept,
            "words_sent": sent,
            "facts": len(c.keep),
            "facts_kept": kept_facts(c, out.redacted),
            "facts_sent": kept_facts(c, out.notification.account),
            "ms": out.seconds * 1000,
            "cpu_ms": out.cpu_seconds * 1000,
            "baseline_ms": baseline * 1000,
        }
        if args.baseline_leaks:
            row["baseline_leaked"] = bool(_baseline_leaks(c))
        rows.append(row)
    gc.unfreeze()
    return rows


def _baseline_leaks(c: Case) -> list[str]:
    """What the redactor of before issue 12 lets through on its own (no residual check)."""
    from consumers.minimise import minimise
    from consumers.render import render_email

    n = minimise(c.incident, c.child, **c.directory())
    account = redaction_baseline.redact(c.incident.summary, c.incident, c.child)
    account = account or redaction_baseline.NO_ACCOUNT
    return leaks(c, render_email(n.model_copy(update={"account": account})))


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


def _pct(a: float, b: float) -> str:
    return f"{100 * a / b:.1f} %" if b else "-"


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    held = sum(r["held"] for r in rows)
    released = [r for r in rows if not r["held"]]
    leaked = [r for r in released if r["leaked"]]
    ms = [r["ms"] for r in rows]
    base = [r["baseline_ms"] for r in rows]
    return {
        "cases": len(rows),
        "held": held,
        "hold_rate": held / len(rows) if rows else float("nan"),
        "released": len(released),
        "leaked": len(leaked),
        "leak_rate": len(leaked) / len(released) if released else float("nan"),
        "words": sum(r["words"] for r in rows),
        "words_kept": sum(r["words_kept"] for r in rows),
        "words_sent": sum(r["words_sent"] for r in rows),
        "facts": sum(r["facts"] for r in rows),
        "facts_kept": sum(r["facts_kept"] for r in rows),
        "facts_sent": sum(r["facts_sent"] for r in rows),
        "all_facts_kept": sum(r["facts_kept"] == r["facts"] for r in rows if r["facts"]),
        "with_facts": sum(1 for r in rows if r["facts"]),
        "p50_ms": statistics.median(ms) if ms else float("nan"),
        "p99_ms": _p99(ms),
        "cpu_p50_ms": statistics.median(r["cpu_ms"] for r in rows) if rows else float("nan"),
        "cpu_p99_ms": _p99([r["cpu_ms"] for r in rows]),
        "baseline_p50_ms": statistics.median(base) if base else float("nan"),
        "baseline_p99_ms": _p99(base),
        "baseline_leaked": sum(r.get("baseline_leaked", False) for r in rows),
    }


HEAD = ("category", "cases", "held", "hold", "released", "leaked", "leak", "words kept",
        "words sent", "facts kept", "facts sent", "p50 ms", "p99 ms")  # fmt: skip
WIDTHS = (18, 6, 6, 8, 9, 7, 8, 11, 11, 11, 11, 8, 8)


def line(name: str, f: dict[str, Any], baseline_leaks: bool) -> str:
    cells = (
        name, f["cases"], f["held"], _pct(f["held"], f["cases"]), f["released"], f["leaked"],
        _pct(f["leaked"], f["released"]), _pct(f["words_kept"], f["words"]),
        _pct(f["words_sent"], f["words"]), _pct(f["facts_kept"], f["facts"]),
        _pct(f["facts_sent"], f["facts"]), f"{f['p50_ms']:.2f}", f"{f['p99_ms']:.2f}",
    )  # fmt: skip
    out = f"{cells[0]:<{WIDTHS[0]}}" + "".join(
        f"{c!s:>{w}}" for c, w in zip(cells[1:], WIDTHS[1:], strict=True)
    )
    if baseline_leaks:
        out += f"{_pct(f['baseline_leaked'], f['cases']):>10}"
    return out


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    mode = "redaction alone (no residual check)" if args.redact_only else (
        "minimisation, residual check, structured account when held"
    )  # fmt: skip
    print(f"\n{len(rows):,} accounts (seed {args.seed}): {mode}")
    print("  leak: share of the e-mails released without a person that carry a forbidden string")
    print("  words kept (benign accounts) and facts kept (benign accounts; word senses such as")
    print("  'a red mark' in word_names): in the redacted account; sent: in the account released")
    print("  without a person (the structured account when held)\n")
    header = f"{HEAD[0]:<{WIDTHS[0]}}" + "".join(
        f"{h:>{w}}" for h, w in zip(HEAD[1:], WIDTHS[1:], strict=True)
    )
    if args.baseline_leaks:
        header += f"{'before':>10}"
    print(header)
    out: dict[str, Any] = {"categories": {}}
    for name in CATEGORIES:
        subset = [r for r in rows if r["category"] == name]
        if subset:
            f = figures(subset)
            out["categories"][name] = f
            print(line(name, f, args.baseline_leaks))
    print("-" * len(header))
    for name, subset in (
        ("all adversarial", [r for r in rows if r["category"] in ADVERSARIAL]),
        ("benign", [r for r in rows if r["category"] == BENIGN]),
        ("total", rows),
    ):
        if subset:
            f = figures(subset)
            out[name.replace(" ", "_")] = f
            print(line(name, f, args.baseline_leaks))
    total = out["total"]
    print(
        f"\ntime per child (minimisation + residual check + structured account when held): "
        f"p50 {total['p50_ms']:.2f} ms, p99 {total['p99_ms']:.2f} ms "
        f"(CPU p50 {total['cpu_p50_ms']:.2f} ms, p99 {total['cpu_p99_ms']:.2f} ms)"
    )
    print(
        f"baseline in the same run, redact() before issue 12: "
        f"p50 {total['baseline_p50_ms']:.2f} ms, p99 {total['baseline_p99_ms']:.2f} ms"
    )
    benign = out.get("benign")
    if benign and benign["with_facts"]:
        print(
            f"benign accounts with every key fact kept: "
            f"{_pct(benign['all_facts_kept'], benign['with_facts'])}"
        )
    reasons = Counter(
        x for r in rows if r["category"] == BENIGN and r["held"] for x in r["reasons"]
    )
    if reasons:
        print(
            "benign accounts held, by reason: "
            + ", ".join(f"{k} {n}" for k, n in reasons.most_common(8))
        )
    if args.show_leaks:
        print("\nleaked strings (synthetic), up to 3 per category:")
        for name in CATEGORIES:
            found = [(r["index"], s) for r in rows if r["category"] == name for s in r["leaked"]]
            if found:
                shown = "; ".join(f"{s!r} (case {i})" for i, s in found[:3])
                print(f"  {name}: {shown}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--limit", type=int, default=None, help="the first N cases only")
    parser.add_argument(
        "--redact-only", action="store_true", help="redaction alone: no residual check"
    )
    parser.add_argument("--show-leaks", action="store_true", help="print leaked strings")
    parser.add_argument(
        "--baseline-leaks", action="store_true", help="also the leaks of redact() before issue 12"
    )
    parser.add_argument("--warm-up", type=int, default=50, help="untimed cases run first")
    parser.add_argument("--json", type=Path, default=None, help="write figures and per-case rows")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    cases = list(corpus(args.seed, args.limit))
    print(f"{len(cases):,} cases generated in {time.perf_counter() - started:.1f} s")
    rows = run(cases, args)
    out = report(rows, args)
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "redact_only": args.redact_only,
                                         "figures": out, "cases": rows}, indent=1))  # fmt: skip
    if out["total"]["leaked"]:
        print(f"\nFAIL: {out['total']['leaked']} e-mails released without a person leaked")
        sys.exit(1)


if __name__ == "__main__":
    main()
