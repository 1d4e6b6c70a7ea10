"""Emergency stop by file: present → halted, removed → lifted, resume file → resume."""

from __future__ import annotations

from pathlib import Path

import trio

from ddmm.actors import stop_watch
from ddmm.actors.account_inbox import ConditionChanged, ResumeRequested


async def _next(channel: trio.MemoryReceiveChannel[object]) -> object:
    with trio.fail_after(5):  # real clock: the watcher reads files through worker threads
        return await channel.receive()


async def test_stop_file_halts_removal_lifts_and_resume_file_resumes(tmp_path: Path) -> None:
    stop_file = tmp_path / "STOP"
    send, receive = trio.open_memory_channel[object](10)
    async with trio.open_nursery() as nursery:
        await nursery.start(stop_watch.run, stop_file, send)
        stop_file.write_text("stop")
        halted = await _next(receive)
        assert isinstance(halted, ConditionChanged) and halted.active
        assert halted.kind == "emergency_stop"
        stop_file.unlink()
        lifted = await _next(receive)
        assert isinstance(lifted, ConditionChanged) and not lifted.active
        stop_watch.resume_file(stop_file).write_text("resume")
        assert isinstance(await _next(receive), ResumeRequested)
        assert not stop_watch.resume_file(stop_file).exists()
        nursery.cancel_scope.cancel()
