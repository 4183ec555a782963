"""Orders, the legs of their delivery chain, and (next) the customer incidents attributed
to those legs; imports of legs from files and over the API.

Not here: the service standards legs are measured against (suppliers/) and the audits that
review them (audits/).
"""
