"""`make bench` on a machine without its tools says what to install, not a traceback."""

from __future__ import annotations

import pytest

from benchmarks import run


def test_missing_tools_are_named_with_the_command_that_installs_them(monkeypatch, tmp_path):
    # given a PATH with none of wrk, pgbench, psql
    monkeypatch.setenv("PATH", str(tmp_path))

    # when the benchmark starts
    with pytest.raises(SystemExit) as stopped:
        run.preflight()

    # then it names each and how to get it
    message = str(stopped.value)
    assert "missing wrk, pgbench, psql" in message
    assert "make bench-deps" in message
    assert "apt-get install postgresql postgresql-client wrk" in message


def test_an_unreachable_redis_is_named(monkeypatch):
    monkeypatch.setattr(run, "REDIS", "redis://127.0.0.1:1")
    with pytest.raises(SystemExit, match=r"Redis is not reachable at redis://127\.0\.0\.1:1"):
        run.preflight()
