"""`supportlog whatif`: replay the recorded commands under a changed policy profile in an
isolated store and report what would have differed (R-AUD-4).

The commands come back from the stored events (`replay.recorded`), each at its recorded
instant, in store order, and are decided again by a `Replayer` under the changed
profile from the start of the period (before it, the desk's adopted profiles apply, so
the period starts from the state the recorded history had). By default a second
replayer plays the same commands under the recorded profiles: the difference reported
is changed minus baseline, two replays with identical timer handling, so it is the
policy's doing and nothing else. The baseline's own difference from the recorded
history is reported as fidelity: none for histories whose scheduler fired every timer
by its due time, a few SLA breaches more where the recorded scheduler ran late (the
demo fires timers once an hour). The live store and read models are only read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.desk import SupportDesk
from domain.errors import InvalidArgumentError
from domain.policy.profile import PolicyProfile, builtin_profile
from replay.recorded import DEPLOYMENT_RECORDS
from replay.replayer import Override, Rejection, Replayer
from replay.streams import envelopes
from replay.tally import Figures, count, difference, is_zero, total, within

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Sets `value` at a dotted path with list indexes (`sla.targets[1].hours`); raises
    InvalidArgumentError unless the path leads to an existing key or index (a typo must
    not add a setting nobody reads)."""
    steps: list[str | int] = [int(m.group(2)) if m.group(2) is not None else m.group(1)
                              for m in _STEP.finditer(path)]
    node: Any = data
    for i, step in enumerate(steps):
        exists = (isinstance(node, dict) and step in node) or (
            isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node))
        if not exists:
            raise InvalidArgumentError(f"--set {path}: the profile has no {step!r} there")
        if i == len(steps) - 1:
            node[step] = value
        else:
            node = node[step]
    if not steps:
        raise InvalidArgumentError(f"--set: empty path in {path!r}")


def load_changed_profile(spec: str, settings: Sequence[str] = ()) -> PolicyProfile:
    """Returns the profile of a file or a built-in id (`cart-power`, `insales@1`), with
    each `KEY=VALUE` of `settings` applied (VALUE as JSON, else as text), validated."""
    path = Path(spec)
    if path.suffix == ".json" or path.exists():
        profile = PolicyProfile.from_file(path)
    else:
        name, _, version = spec.partition("@")
        profile = builtin_profile(name, int(version) if version.isdigit() else 1)
    if not settings:
        return profile
    data = json.loads(json.dumps(dict(profile.data)))
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep:
            raise InvalidArgumentError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        set_path(data, key.strip(), value)
    return PolicyProfile.from_data(data, f"{profile.source} with {', '.join(settings)}")


@dataclass
class WhatIfReport:
    """The changed replay's figures against the baseline's (the same replay under the
    recorded profiles) or, without a baseline, against the recorded history's."""

    profile: dict[str, Any]
    start: datetime | None
    end: datetime | None
    desk_found: bool = False
    recorded: dict[str, Figures] = field(default_factory=dict)
    baseline: dict[str, Figures] | None = None
    replayed: dict[str, Figures] = field(default_factory=dict)
    commands: int = 0
    timers_fired: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    baseline_rejected: list[Rejection] = field(default_factory=list)

    @property
    def reference(self) -> dict[str, Figures]:
        """What the what-if is compared with: the baseline replay if there is one."""
        return self.recorded if self.baseline is None else self.baseline

    def rows(self) -> list[dict[str, Any]]:
        """Returns one row per customer whose figures differ, by customer."""
        return _rows(self.reference, self.replayed)

    def totals(self) -> dict[str, Any]:
        """Returns the figures of every customer counted, not only of those `rows`
        shows; `customers` says how many that is, so a total is never read as the sum
        of the rows printed above it."""
        before, after = total(self.reference), total(self.replayed)
        return {"before": before.to_dict(), "what_if": after.to_dict(),
                "difference": difference(before, after),
                "customers": len(set(self.reference) | set(self.replayed))}

    def fidelity(self) -> dict[str, Any] | None:
        """How the baseline replay differs from the recorded history (None without a
        baseline): nothing, unless the recorded scheduler fired timers later than due."""
        if self.baseline is None:
            return None
        return {"difference": difference(total(self.recorded), total(self.baseline)),
                "customers": _rows(self.recorded, self.baseline, ("recorded", "baseline")),
                "rejected": [vars(r) for r in self.baseline_rejected]}

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile,
                "from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None,
                "compared_with": "recorded" if self.baseline is None else "baseline",
                "commands": self.commands, "timers_fired": self.timers_fired,
                "desk_found": self.desk_found,
                "recorded": total(self.recorded).to_dict(), "totals": self.totals(),
                "customers": self.rows(), "rejected": [vars(r) for r in self.rejected],
                "fidelity": self.fidelity()}


def _rows(before: dict[str, Figures], after: dict[str, Figures],
          labels: tuple[str, str] = ("before", "what_if")) -> list[dict[str, Any]]:
    out = []
    for customer in sorted(set(before) | set(after)):
        b, a = before.get(customer, Figures()), after.get(customer, Figures())
        delta = difference(b, a)
        if not is_zero(delta):
            out.append({"customer": customer, labels[0]: b.to_dict(),
                        labels[1]: a.to_dict(), "difference": delta})
    return out


def _survey(live: SupportDesk, report: WhatIfReport,
            tenant: str | None = None) -> datetime | None:
    """Counts the recorded figures of the period and finds the last recorded instant up
    to its end: any recorded event, a timer's too, shows the history had reached it."""
    last_at: datetime | None = None
    for envelope in envelopes(live):
        if envelope.type in DEPLOYMENT_RECORDS:
            continue  # a record of the deployment (a store re-encrypted), no desk's history
        if tenant is not None and envelope.tenant != tenant:
            continue
        if within(envelope, report.start, report.end):
            count(report.recorded, envelope)
        at = datetime.fromisoformat(envelope.time)
        if report.end is None or at <= report.end:
            last_at = max(last_at or at, at)
            report.desk_found = report.desk_found or envelope.tenant == report.profile["id"]
    return last_at


def what_if(live: SupportDesk, isolated: Any, changed: PolicyProfile, *,
            baseline: Any | None = None, start: datetime | None = None,
            end: datetime | None = None,
            progress: Callable[[int, int], None] | None = None,
            tenant: str | None = None) -> WhatIfReport:
    """Replays the live store's commands up to `end` into `isolated` under `changed`
    from `start` and, given a `baseline` (another isolated System), into it under the
    recorded profiles, both at once; returns the report. Reads `live` only. With
    `tenant`, only that desk's history is replayed and reported (desks share no
    customer, so a desk's history replays on its own): what a desk's auditor may see.

    Timers are fired up to the last recorded instant, not up to `end`: past it, the
    recorded scheduler may not have run yet, and timers fired only here would differ.
    """
    report = WhatIfReport({"id": changed.id, "version": changed.version,
                           "digest": changed.digest, "source": changed.source}, start, end)
    last_at = _survey(live, report, tenant)
    if last_at is None:
        return report
    replayers = [Replayer(isolated, Override(changed), start, tenant=tenant)]
    if baseline is not None:
        replayers.append(Replayer(baseline, tenant=tenant))
    try:
        # Each replay waits on its own database most of the time: run them side by side.
        with ThreadPoolExecutor(len(replayers), thread_name_prefix="whatif") as pool:
            runs = [pool.submit(r.replay, live, end, last_at, progress if i == 0 else None)
                    for i, r in enumerate(replayers)]
            for run in runs:
                run.result()
        changed_run = replayers[0]
        report.commands, report.timers_fired = changed_run.commands, changed_run.timers_fired
        report.rejected = changed_run.rejected
        report.replayed = changed_run.figures(start, end)
        if baseline is not None:
            report.baseline = replayers[1].figures(start, end)
            report.baseline_rejected = replayers[1].rejected
        return report
    finally:
        for replayer in replayers:
            replayer.close()
