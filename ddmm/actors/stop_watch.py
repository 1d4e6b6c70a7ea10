"""Stop-file watcher actor: the operator's emergency stop and resume (SPEC §6).

Role: while `risk.stop_file` exists, trading is halted (everything cancelled, nothing
placed); removing it lifts that halt. `ddmm stop` creates the file and `ddmm resume`
removes it and drops a resume file, which also clears latched halts (daily loss).
Files work whether or not an ops endpoint is reachable, and survive a restart: a bot
started while the stop file exists starts halted.
Owns: the last seen state of the stop file. Mailbox: none — its input is the filesystem.
Out: `ConditionChanged("emergency_stop")` and `ResumeRequested` to the account actor.
Restart type: permanent. Shutdown budget: immediate.
"""

from __future__ import annotations

from pathlib import Path

import structlog
import trio

from ddmm.actors.account_inbox import AccountMsg, ConditionChanged, ResumeRequested

log = structlog.get_logger(actor="stop_watch")

POLL_S = 0.2
"""Fast enough for "cancelled within 1 s" of an emergency stop."""


def resume_file(stop_file: Path) -> Path:
    """The resume file sits beside the stop file."""
    return stop_file.with_name(stop_file.name + ".resume")


async def run(stop_file: Path, account: trio.MemorySendChannel[AccountMsg], *,
              task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Poll the stop and resume files until cancelled."""
    stopped = False
    stop, resume = trio.Path(stop_file), trio.Path(resume_file(stop_file))
    task_status.started()
    while True:
        present = await stop.exists()
        if present != stopped:
            stopped = present
            await account.send(ConditionChanged(
                kind="emergency_stop", active=present,
                reason=f"stop file {stop_file}" if present else "stop file removed"))
        if await resume.exists():
            await resume.unlink(missing_ok=True)
            log.warning("resume_requested", file=str(resume))
            await account.send(ResumeRequested())
        await trio.sleep(POLL_S)
