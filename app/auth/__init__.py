"""Users, roles and what each role may do; log-in, log-out, API tokens.

Not here: supplier contacts. They answer questionnaires through private links and never hold
an account.
"""
