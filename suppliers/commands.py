"""Command line of the suppliers domain: `sla measure`."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from suppliers.metrics import METRICS

sla_cli = AppGroup("sla", help="Measure service standards.")


@sla_cli.command("measure")
@click.option("--supplier", "code", required=True, help="Supplier code.")
@click.option("--from", "from_month", required=True, help="First month, YYYY-MM.")
@click.option("--to", "to_month", required=True, help="Last month, YYYY-MM.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON, as the API gives them.")
def measure(code, from_month, to_month, as_json):
    """Measure every SLA of a supplier per period, as /api/v1/suppliers/CODE/sla-results."""
    from suppliers import services
    from suppliers.api import result_item
    from suppliers.services.measurement import month_span, supplier_results

    supplier = services.get_supplier_by_code(code)
    if supplier is None:
        raise click.ClickException(f"No supplier has the code {code}.")
    try:
        first, last = month_span(from_month, to_month)
    except ValueError:
        raise click.ClickException("Give --from and --to as YYYY-MM, --from not after --to.") from None
    items = [result_item(r) for r in supplier_results(supplier, first, last)]
    if as_json:
        click.echo(json.dumps({"supplier": supplier.code, "items": items}, default=str, indent=2))
        return
    if not items:
        click.echo(f"{supplier.code}: no SLA applies.")
        return
    click.echo(f"{'SLA':<32} {'period':<9} {'value':>9} {'target':>9} {'sample':>7}  status     penalty")
    for item in items:
        unit = METRICS[item["metric"]].unit
        value = _format(item["value"], unit)
        target = ("≥ " if item["comparator"] == "gte" else "≤ ") + _format(item["target"], unit)
        click.echo(f"{item['name'][:32]:<32} {item['period']:<9} {value:>9} {target:>9} {item['sample_size']:>7}  "
                   f"{item['status']:<10} {item['penalty']}")


def _format(value, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}%" if unit == "rate" else f"{value:.2f}h"
