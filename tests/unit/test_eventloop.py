"""The event loop every kubelite process runs on: uvloop unless told otherwise."""

from __future__ import annotations

import asyncio
import inspect

import pytest
import uvloop

from kubelite import eventloop


async def _loop_class() -> type:
    return type(asyncio.get_running_loop())


def test_processes_run_on_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert issubclass(eventloop.run(_loop_class()), uvloop.Loop)


def test_the_standard_loop_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, "asyncio")
    assert not issubclass(eventloop.run(_loop_class()), uvloop.Loop)


def test_an_unknown_loop_ends_the_process_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, "tokio")
    main = _loop_class()
    with pytest.raises(SystemExit, match="KUBELITE_EVENT_LOOP must be 'uvloop' or 'asyncio'"):
        eventloop.run(main)
    assert inspect.getcoroutinestate(main) == inspect.CORO_CLOSED  # no "never awaited"
