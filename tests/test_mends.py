"""Small promises a newcomer relies on: one source for each thing, one wording for each idea."""

from __future__ import annotations

import pytest

from startnotebook import containers


def test_every_container_runtime_says_how_to_run_a_command_inside_it():
    # A runtime that forgot wrap() cannot even be made: the interface says it must have one.
    assert containers.Runtime.__abstractmethods__ == {"wrap"}
    for runtime in containers.RUNTIMES.values():
        assert "wrap" in type(runtime).__dict__, f"{runtime.name} has no wrap of its own"
    run = containers.ContainerRun("/images/nb", ("/home",), "/home/ada/exp", {"HOME": "/home/ada/exp"})
    for runtime in containers.RUNTIMES.values():
        command = runtime.wrap(run, ["python3", "-V"])
        assert command[0] == runtime.executable and command[-2:] == ["python3", "-V"]

    class Forgetful(containers.Runtime):
        name, executable = "forgetful", "true"

    with pytest.raises(TypeError, match="wrap"):
        Forgetful()
