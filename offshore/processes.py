"""Production processes (`offshore indexer|compile|execute|settle`): settings in, a running component out."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import executor
from offshore.settings import Settings
from offshore.stack import LocalStack

if TYPE_CHECKING:
    from streams.worker import PipelineConfig


def kafka_bootstrap(settings: Settings) -> str:
    return settings.kafka_bootstrap or LocalStack(settings.state_dir).endpoints().kafka_bootstrap


def postgres_dsn(settings: Settings) -> str:
    return settings.postgres_dsn or LocalStack(settings.state_dir).endpoints().postgres_dsn


def _start_metrics(settings: Settings) -> None:
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr=settings.metrics_host)  # loopback unless configured


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per block request is noise


def pipeline_config(settings: Settings) -> PipelineConfig:
    from streams.deadline import DeadlinePolicy
    from streams.kafka_profile import broker_profile
    from streams.worker import PipelineConfig

    state = settings.state_dir.resolve()
    from offshore.keys import operator_keys

    keys = operator_keys(settings)
    return PipelineConfig(
        bootstrap=kafka_bootstrap(settings),
        data_dir=state / "faust",
        rpc_url=settings.near_rpc_url,
        contract_id=settings.contract_id,
        operator_id=settings.operator_id,
        operator_keys=keys,
        keystore_url=settings.keystore_url,
        keystore_token=settings.keystore_token.get_secret_value(),
        keystore_tls=(
            _file(settings.keystore_tls_ca),
            _file(settings.keystore_tls_cert),
            _file(settings.keystore_tls_key),
        ),
        randomness_key=settings.randomness_key.get_secret_value() or None,
        compile=compile_config(settings),
        store=executor.StoreConfig(root=state / "artifacts"),
        executor=executor_config(settings),
        deadline=DeadlinePolicy(
            timeout_blocks=settings.yield_timeout_blocks,
            margin_blocks=settings.settle_margin_blocks,
            block_time_s=settings.block_time_s,
        ),
        execute_concurrency=settings.execute_concurrency,
        settle_concurrency=settings.settle_concurrency,
        reconcile_after_blocks=settings.reconcile_after_blocks,
        replication_factor=broker_profile(settings).replication_factor,
        settle_batch_window_s=settings.settle_batch_window_s,
        settle_batch_max_items=settings.settle_batch_max_items,
    )


def _file(path: Path | None) -> str | None:
    return None if path is None else str(path)


def compile_config(settings: Settings, *, extra_file_roots: tuple[Path, ...] = ()) -> executor.CompileConfig:
    """The compile stage's build settings (also `offshore run`'s: the same sandbox and caps)."""
    state = settings.state_dir.resolve()
    return executor.CompileConfig(
        allow_file_urls=settings.allow_file_urls or bool(extra_file_roots),
        allowed_file_roots=_file_url_roots(settings, state) + extra_file_roots,
        work_dir=None,
        module_cache_dir=state / "modules",  # the execute stage's module cache on this host
        max_checkout_bytes=settings.max_checkout_bytes,
    )


def executor_config(settings: Settings, *, warm_python: bool = True) -> executor.ExecutorConfig:
    """The execute stage's runtime settings (also `offshore run`'s: the same engine and caps)."""
    state = settings.state_dir.resolve()
    return executor.ExecutorConfig(
        module_cache_dir=state / "modules",
        max_stdout_bytes=settings.max_output_bytes,
        python_cache_dir=settings.python_cache_dir.resolve(),
        python_warm_at_start=warm_python,
        http=http_config(settings),
    )


def http_config(settings: Settings) -> executor.HttpConfig:
    """Guest HTTP policy of this operator (`OFFSHORE_HTTP_*`); each request's grant narrows it."""
    return executor.HttpConfig(
        dev_mode=settings.http_dev_mode,
        dns_server=settings.http_dns_server,
        call_timeout_s=settings.http_call_timeout_s,
        max_response_bytes=settings.http_max_response_bytes,
        ca_file=str(settings.http_ca_file) if settings.http_ca_file is not None else None,
        io_workers=settings.http_io_workers,
    )


def _file_url_roots(settings: Settings, state: Path) -> tuple[Path, ...]:
    """Where file:// repos may live: the configured roots, else the state dir's `repos/` only."""
    roots = tuple(Path(r.strip()).resolve() for r in settings.file_url_roots.split(",") if r.strip())
    return roots or (state / "repos",)


def run_stage(stage: str, settings: Settings) -> int:
    """Runs one Faust stage until SIGTERM/SIGINT (Faust's worker handles both gracefully)."""
    import faust

    from streams import create_topics
    from streams.worker import BUILDERS

    _logging(settings)
    config = pipeline_config(settings)
    create_topics(config.bootstrap, replication_factor=config.replication_factor)
    _start_metrics(settings)
    app = BUILDERS[stage](config)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0


def run_indexer_process(settings: Settings, *, from_height: int | None = None, to_height: int | None = None) -> int:
    from indexer import IndexerConfig, KafkaPublisher, run_indexer
    from streams import create_topics

    _logging(settings)
    bootstrap = kafka_bootstrap(settings)
    create_topics(bootstrap, replication_factor=settings.kafka_replication_factor)
    _start_metrics(settings)
    config = IndexerConfig(
        block_api_url=settings.block_api_url,
        contract_id=settings.contract_id,
        checkpoint_path=Path(settings.state_dir) / "indexer" / "checkpoint.json",
        api_key=settings.block_api_key.get_secret_value() or None,
        start_height=from_height if from_height is not None else settings.indexer_start_height,
        stop_height=to_height,
    )
    progress = _progress_printer(from_height) if to_height is not None else None

    async def main() -> int | None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run_indexer(config, KafkaPublisher(bootstrap), stop=stop, progress=progress)

    last = asyncio.run(main())
    if progress is not None:
        print(file=sys.stderr)
    print(f"indexer: published up to height {last}")
    return 0


def _progress_printer(start: int | None) -> Callable[[int, int], None]:
    import time

    started = time.monotonic()
    first: list[int] = [] if start is None else [start]

    def show(height: int, target: int) -> None:
        if not first:
            first.append(height)
        done = height - first[0] + 1
        rate = done / max(time.monotonic() - started, 1e-6)
        width = 30
        total = max(target - first[0] + 1, 1)
        filled = int(width * min(done / total, 1))
        bar = "#" * filled + "-" * (width - filled)
        print(f"\rbackfill [{bar}] {height}/{target} {rate:,.0f} blocks/s", end="", file=sys.stderr, flush=True)

    return show


def run_projector_process(settings: Settings) -> int:
    from projector import run_projector
    from streams import create_topics

    _logging(settings)
    bootstrap = kafka_bootstrap(settings)
    create_topics(bootstrap, replication_factor=settings.kafka_replication_factor)
    _start_metrics(settings)
    stats = run_projector(
        bootstrap=bootstrap, dsn=postgres_dsn(settings), refresh_interval_s=settings.views_refresh_interval_s
    )
    print(f"projector: stopped ({stats})")
    return 0
