"""The store's part for the notification outbox (what is to be sent, every attempt, delivered/failed).

A mixin of :class:`callbot.store.store.Store`; its tables come from migration
:mod:`callbot.store.schema_outbox`.
"""

from __future__ import annotations

from callbot.store.base import StoreBase


class Outbox(StoreBase):
    """Reads and writes of the notification outbox (what is to be sent, every attempt, delivered/failed)."""
