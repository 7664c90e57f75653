"""Accounts and access control: users, roles (per project), API tokens, app sessions, the matrix.

The one choke point is ``core.accounts.audit.record``: every change names an action there, and the
acting user's roles are checked in the same transaction (``access.check_action``). Reads call
``access.authorize``. A workspace without users is open (single-user mode).
"""
