"""The capacity bench's verdicts (bench/capacity.py): what each process costs per request, the rate
that cost allows, and which component a failing step names. Pure functions over measured CPU."""

from __future__ import annotations

import pytest

from bench.capacity import LOAD_GENERATOR, ceilings, limiting_component, per_request


def test_cost_per_request_is_above_the_idle_baseline() -> None:
    busy = {"devnet": 0.5, "kafka": 0.2, "settle": 0.03}
    idle = {"devnet": 0.1, "kafka": 0.1, "settle": 0.05}
    assert per_request(busy, idle, 20.0) == {"devnet": 20.0, "kafka": 5.0, "settle": 0.0}


def test_the_lowest_ceiling_bounds_a_single_event_loop_or_the_machine() -> None:
    cost = {"devnet": 15.0, "execute": 5.0, "kafka": 5.0, LOAD_GENERATOR: 5.0}
    idle = {"devnet": 0.0, "execute": 0.1, "kafka": 0.1}
    got = ceilings(cost, idle, 2)
    assert got["devnet"] == 66.7  # one core / 15 ms
    assert got["execute"] == 180.0  # 0.9 core / 5 ms
    assert "kafka" not in got and LOAD_GENERATOR not in got  # multi-threaded / not the platform
    assert got["machine"] == pytest.approx(60.0)  # (2 cores - 0.2 idle) / 30 ms
    assert got["bound_by"] == "machine"
    assert ceilings({"devnet": 30.0}, {}, 2)["bound_by"] == "devnet"


def test_a_failing_step_names_a_saturated_loop_before_the_machine() -> None:
    assert limiting_component({"devnet": 0.95, "execute": 0.5}, 1.99, 2)[0] == "devnet"
    name, why = limiting_component({"devnet": 0.7, "execute": 0.6, "kafka": 0.5}, 1.9, 2)
    assert name == "machine CPU" and "1.9" in why
    # Tansu is multi-threaded: a core's worth of it is not a saturated event loop
    assert limiting_component({"kafka": 1.1, "devnet": 0.5}, 1.95, 2)[0] == "machine CPU"
    assert limiting_component({"devnet": 0.4}, 0.8, 2)[1].startswith("unproven")


def test_a_failing_rate_near_the_cpu_ceiling_names_it() -> None:
    ceiling = {"devnet": 66.0, "machine": 62.7, "bound_by": "machine"}
    name, why = limiting_component({"devnet": 0.78, "execute": 0.2}, 1.62, 2, rate=60.0, ceiling=ceiling)
    assert name == "machine CPU" and "62.7" in why and "devnet 66.0" in why
    # far below the ceiling: the cause is not shown by CPU
    assert limiting_component({"devnet": 0.78}, 1.62, 2, rate=30.0, ceiling=ceiling)[1].startswith("unproven")
    ceiling = {"devnet": 50.0, "machine": 62.7, "bound_by": "devnet"}
    assert limiting_component({"devnet": 0.8}, 1.6, 2, rate=50.0, ceiling=ceiling)[0] == "devnet"


def test_the_machine_ceiling_counts_only_the_processes_costed() -> None:
    idle = {"devnet": 0.5, "execute": 0.1}
    assert ceilings({"execute": 5.0}, idle, 2)["machine"] == 380.0  # (2 - 0.1) / 5 ms: the devnet not there
