"""The `offshore` command: a registry of command groups, and the one place errors meet the user.

Each group is a module with `add_parsers(commands)` (`offshore/commands/*.py`, `offshore/golive.py`);
a new group is one module and one line in `GROUPS`. Every failure the user can fix is a
`common.errors.OffshoreError` (each component's error root derives from it) and is printed here, as
one line (`offshore: error: ...`) with exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from common.errors import OffshoreError
from offshore import golive, run, verify
from offshore.commands import db, platform, processes, secrets, stack
from offshore.settings import Settings, get_settings

Handler = Callable[[argparse.Namespace, Settings], int]
GROUPS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    stack.add_parsers,
    platform.add_parsers,
    processes.add_parsers,
    db.add_parsers,
    secrets.add_parsers,
    golive.add_parsers,
    run.add_parsers,
    verify.add_parsers,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="offshore", description="NEAR Offshore: off-chain computation for NEAR.")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_parsers in GROUPS:
        add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["devnet"]:  # the devnet parses its own options (the same as `python -m devnet`)
        args = argparse.Namespace(devnet_args=words[1:], handler=processes.run_devnet, process=True)
    else:
        args = build_parser().parse_args(words)
    if not getattr(args, "process", False):
        quiet_libraries()
    handler: Handler = args.handler
    try:
        return handler(args, get_settings())
    except OffshoreError as exc:
        print(f"offshore: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("offshore: interrupted", file=sys.stderr)
        return 130


def quiet_libraries() -> None:
    """A one-shot command answers in its own words: the libraries' log lines (py-near's loguru on every
    failed RPC, librdkafka's connection attempts) would bury the one-line error. Long-running processes
    (`set_defaults(process=True)`) configure logging themselves and keep them."""
    from loguru import logger

    logger.disable("py_near")
    logging.getLogger().addHandler(logging.NullHandler())  # nothing falls back to printing on stderr


def one_line(exc: BaseException) -> str:
    """The error's message on one line (a build log or a chain's answer may span many)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 2000 else text[:1997] + "..."


def entry() -> NoReturn:
    """The `offshore` executable: `main`, then an immediate process exit once output is flushed.

    wasmtime's WASI runs on a tokio runtime inside `_libwasmtime.so`; at a normal interpreter exit its
    worker threads can still be alive while C atexit handlers tear down their state, and tokio aborts
    the process ("panic in a function that cannot unwind", exit -6) after the command already
    succeeded. Nothing of ours needs interpreter finalisation once `main` returned: every file and
    client is closed by the handlers' own context managers, so `os._exit` is safe and honest."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    entry()
