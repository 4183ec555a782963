"""Qualification questionnaires (ISO 9001 §8.4: evaluate, select, re-evaluate suppliers).

Templates in versions, built on screen or imported from .xlsx; assignments that send one
version to one supplier through a private link; the supplier's answers and evidence; scoring,
review, clarification rounds and the decision that sets the supplier's qualification status;
reminders and requalification. Not here: the supplier register and its status machine
(suppliers/), audit checklists' own life (audits/).
"""
