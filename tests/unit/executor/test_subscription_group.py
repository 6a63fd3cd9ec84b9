"""An executor of several pools pauses, resumes and closes their subscriptions as one."""

from __future__ import annotations

import pytest
from tickwork_executor.intake.subscriptions import SubscriptionGroup
from tickwork_shared.bus.abc import Subscription


class Recording(Subscription):
    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[str] = []
        self._fail_on = fail_on

    async def _record(self, name: str) -> None:
        self.calls.append(name)
        if name == self._fail_on:
            raise ConnectionError(f"{name} failed")

    async def pause(self) -> None:
        await self._record("pause")

    async def resume(self) -> None:
        await self._record("resume")

    async def close(self) -> None:
        await self._record("close")


async def test_every_member_follows_the_group() -> None:
    members = [Recording(), Recording()]
    group = SubscriptionGroup(members)
    await group.pause()
    await group.resume()
    await group.close()
    assert [m.calls for m in members] == [["pause", "resume", "close"]] * 2


async def test_a_failing_member_is_raised_after_the_others_were_tried() -> None:
    failing, healthy = Recording(fail_on="pause"), Recording()
    with pytest.raises(ConnectionError, match="pause failed"):
        await SubscriptionGroup([failing, healthy]).pause()
    assert healthy.calls == ["pause"]  # paused all the same: the gate retries the group
