"""The SLA metrics Catena measures: one registry, one written definition each.

Every definition here is the one in the README's glossary; `suppliers.services.measurement`
computes them. A metric is either measured over legs (its stage chosen by the SLA) or over
incidents; incident metrics are registered now so that SLAs and results have one shape, and
become selectable when incidents are recorded (`is_available`).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from suppliers.models import Comparator


@dataclass(frozen=True)
class Metric:
    code: str
    label: object
    #: "rate" (a fraction 0–1, shown as %) or "hours".
    unit: str
    #: Which way is good: at least the target, or at most.
    comparator: Comparator
    #: "legs" or "incidents".
    source: str
    definition: object
    is_available: bool = True


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> None:
    if metric.code in METRICS:
        raise ValueError(f"metric {metric.code!r} registered twice")
    METRICS[metric.code] = metric


register(Metric("on_time_rate", _l("On-time rate"), "rate", Comparator.AT_LEAST, "legs", _l(
    "Share of the stage's legs in the period that ended no later than promise + tolerance. A leg still open "
    "after promise + tolerance counts as not on time; a lost leg counts as not on time; an open leg whose "
    "promise has not passed is not counted yet.")))
register(Metric("lost_rate", _l("Lost rate"), "rate", Comparator.AT_MOST, "legs", _l(
    "Share of the stage's closed legs in the period whose outcome is lost.")))
register(Metric("damage_rate", _l("Damage rate"), "rate", Comparator.AT_MOST, "legs", _l(
    "Share of the stage's closed legs in the period whose outcome is damaged.")))
register(Metric("first_attempt_rate", _l("First-attempt success rate"), "rate", Comparator.AT_LEAST, "legs", _l(
    "Of the stage's legs in the period that ended completed or after a failed attempt, the share completed "
    "without a failed attempt.")))
register(Metric("mean_delay_hours", _l("Mean delay (hours)"), "hours", Comparator.AT_MOST, "legs", _l(
    "Mean, over the stage's legs in the period that have an actual time, of the hours between promise and "
    "actual time; early legs count as 0.")))
register(Metric("p95_delay_hours", _l("95th-percentile delay (hours)"), "hours", Comparator.AT_MOST, "legs", _l(
    "Nearest-rank 95th percentile of the same delays: sorted ascending, the value at position ⌈0.95 × n⌉.")))
register(Metric("incidents_per_1000", _l("Incidents per 1,000 legs"), "count", Comparator.AT_MOST, "incidents", _l(
    "Incidents reported in the period, counted with the share of them attributed to the supplier, per 1,000 "
    "of its legs promised in the period (every stage).")))
register(Metric("first_response_hours", _l("First response time (hours)"), "hours", Comparator.AT_MOST, "incidents",
                _l("Over the incidents reported in the period and attributed to the supplier, the mean hours from "
                   "report to first response, weighted by the supplier's share.")))
register(Metric("resolution_hours", _l("Resolution time (hours)"), "hours", Comparator.AT_MOST, "incidents",
                _l("Over the incidents reported in the period and attributed to the supplier, the mean hours from "
                   "report to resolution, weighted by the supplier's share.")))
register(Metric("csat_avg", _l("Average CSAT (1–5)"), "score", Comparator.AT_LEAST, "incidents",
            _l("Over the incidents reported in the period and attributed to the supplier, the mean customer "
               "satisfaction score given at closing, weighted by the supplier's share.")))
