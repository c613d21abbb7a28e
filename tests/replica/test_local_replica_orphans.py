"""core.local_replica removes what a killed run left in the temporary directory.

A test run killed before its clean-up (SIGKILL, a CI timeout) leaves its standby's
directory, and the owner file beside it naming its pid. The next start removes every such
directory whose owner is gone, and leaves alone those of live processes.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from core.local_replica import TEMP_PREFIX, Primary, _orphans_remove


def _left_behind(pid: int) -> tuple[Path, Path]:
    directory = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    (directory / "PG_VERSION").write_text("15\n")  # as a half-made copy would have
    owner = directory.with_name(directory.name + ".owner")
    owner.write_text(str(pid))
    return directory, owner


def test_a_dead_owners_directory_is_removed_and_a_live_owners_stays():
    # given a directory whose owner process has exited, and one of this live process
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    orphan, orphan_owner = _left_behind(dead_pid.pid)
    mine, mine_owner = _left_behind(os.getpid())
    try:
        # when a start looks for orphans (a half-made copy: no server, nothing to stop)
        _orphans_remove(Primary("127.0.0.1", 5432, "postgres"))

        # then the orphan and its owner file are gone, this process's are not
        assert not orphan.exists()
        assert not orphan_owner.exists()
        assert mine.exists()
        assert mine_owner.exists()
    finally:
        for path in (mine / "PG_VERSION", mine_owner):
            path.unlink(missing_ok=True)
        mine.rmdir()
