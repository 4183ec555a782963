"""Pages for orders and the chain of legs they passed through."""
