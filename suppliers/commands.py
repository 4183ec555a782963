"""Command line of the suppliers domain: `sla measure`."""
from flask.cli import AppGroup

sla_cli = AppGroup("sla", help="Measure service standards.")
