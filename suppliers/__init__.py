"""The supplier register: partners of the delivery chain, their chain roles, contacts,
certificates, subcontracting links and qualification status with its history.

Not here: how a supplier is qualified (questionnaires/), how its service is measured
(service standards arrive with the delivery-chain issue) or audited (audits/).
"""
