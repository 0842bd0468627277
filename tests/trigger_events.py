"""Run a trigger the way the triggerer does, up to its first event."""

from __future__ import annotations

import asyncio
from typing import Any


def first_event(trigger: Any, ti: Any) -> Any:
    """The first event ``trigger`` yields, with ``ti`` as its task instance (what the triggerer sets for a task's trigger)."""
    trigger.task_instance = ti

    async def run():
        async for event in trigger.run():
            return event

    return asyncio.run(run())
