"""The store's part for the shared inbox: callback items (state, assignee, notes, due) per call.

A mixin of :class:`callbot.store.store.Store`; its tables come from migration
:mod:`callbot.store.schema_inbox`.
"""

from __future__ import annotations

from callbot.store.base import StoreBase


class Inbox(StoreBase):
    """Reads and writes of the shared inbox: callback items (state, assignee, notes, due) per call."""
