"""The attribution panel of an incident: Catena's proposal, the decision and its history."""
