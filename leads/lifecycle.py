"""The lifecycle rules: which stage moves are allowed, and what each needs. No ORM here.

Forward moves follow the funnel (raw -> mql/pql -> sql -> won). Backward moves are
named transitions that people make with a reason:

- ``recycle``: an open, stalled or lost lead goes back to ``raw`` to be nurtured again;
- ``reopen``: a lost lead returns to the stage it was lost from (a won deal to ``sql``).

Rules (the scoring model) may only make forward moves.
"""

from dataclasses import dataclass

RAW, MQL, PQL, SQL, WON, LOST = "raw", "mql", "pql", "sql", "won", "lost"
OPEN_STAGES = (RAW, MQL, PQL, SQL)
# The main path; PQL sits beside MQL as the product-led way to SQL.
RANK = {RAW: 0, MQL: 1, PQL: 1, SQL: 2, WON: 3}

ADVANCE, LOSE, RECYCLE, REOPEN = "advance", "lose", "recycle", "reopen"


@dataclass(frozen=True)
class Move:
    """An allowed move: its transition name and whether a reason must be given."""

    transition: str
    needs_reason: bool


class MoveRefused(Exception):
    """The move is not allowed; the message says why and what to do instead."""


def check_move(from_stage: str, to_stage: str, *, previous_stage: str | None = None, by_rule: bool = False) -> Move:
    """Return the transition for ``from_stage -> to_stage`` or raise ``MoveRefused``.

    ``previous_stage`` is the stage a lost lead was lost from (for ``reopen``).
    """
    if to_stage not in RANK and to_stage != LOST:
        raise MoveRefused(f"'{to_stage}' is not a stage.")
    if to_stage == from_stage:
        raise MoveRefused(f"The lead is already in stage '{to_stage}'.")
    if from_stage in OPEN_STAGES and to_stage in RANK and RANK[to_stage] > RANK[from_stage]:
        return Move(ADVANCE, needs_reason=False)
    if by_rule:
        raise MoveRefused("Rules only move leads forward; a person moves them back with recycle or reopen.")
    if to_stage == LOST:
        if from_stage == WON:
            raise MoveRefused("A customer cannot be marked lost; reopen the deal first.")
        return Move(LOSE, needs_reason=True)
    if to_stage == RAW:
        return Move(RECYCLE, needs_reason=True)
    if from_stage == LOST:
        if previous_stage and to_stage == previous_stage:
            return Move(REOPEN, needs_reason=True)
        raise MoveRefused(
            f"A lost lead can be reopened to the stage it was lost from ({previous_stage or 'unknown'}) "
            "or recycled to raw."
        )
    if from_stage == WON and to_stage == SQL:
        return Move(REOPEN, needs_reason=True)
    raise MoveRefused(
        f"A lead cannot move back from '{from_stage}' to '{to_stage}'; recycle it to raw to nurture it again."
    )


def allowed_targets(from_stage: str, *, previous_stage: str | None = None) -> list[tuple[str, Move]]:
    """Every stage a person may move a lead in ``from_stage`` to, with its transition."""
    targets = []
    for stage in (RAW, MQL, PQL, SQL, WON, LOST):
        try:
            targets.append((stage, check_move(from_stage, stage, previous_stage=previous_stage)))
        except MoveRefused:
            continue
    return targets
