"""Pages for importing orders and legs from files."""
