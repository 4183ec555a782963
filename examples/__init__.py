"""Worked examples on real data: converters from public data sets into Catena's import formats."""
