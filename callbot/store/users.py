"""The store's part for the office's users (roles, password hashes) and the audit of who changed what.

A mixin of :class:`callbot.store.store.Store`; its tables come from migration
:mod:`callbot.store.schema_users`.
"""

from __future__ import annotations

from callbot.store.base import StoreBase


class Users(StoreBase):
    """Reads and writes of the office's users (roles, password hashes) and the audit of who changed what."""
