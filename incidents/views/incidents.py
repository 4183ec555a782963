"""Pages for customer incidents: intake, their life, the backlog."""
