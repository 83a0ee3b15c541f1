"""Issue 19.4: execute opens secrets only for a request the chain confirms (sender, code source with
commit, input, limits, ciphertext hash, still pending). The guest, executor, artifact store and
keystore are real; the chain's `get_request` view is a stand-in here (the real chain is in e2e)."""

# ruff: noqa: E501  (the case tables read best one case per line)

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import executor
from executor import examples
from schemas import CodeSource, ExecutionFinished, ExecutionRequested, ResourceLimits, WasmCompiled
from schemas.request_view import RequestView
from schemas.samples import sample_record, sample_requested, samples
from streams.deadline import DeadlinePolicy
from streams.execute.core import UnconfirmedRequest, execute_request, unconfirmed_reason
from streams.keystore import ACCESSES, Keystore, encrypt_secrets, generate_master_key

OWNER = "alice.test.near"
SECRET = "victim-api-key-123"


class Views:
    def __init__(self, view: dict[str, Any] | None) -> None:
        self.view = view

    async def get_request(self, request_id: str) -> RequestView | None:
        return None if self.view is None else RequestView.from_json(self.view)


def chain_record(req: ExecutionRequested, **changes: Any) -> dict[str, Any]:
    """The shape of the contract's get_request (state.get_request_with_input)."""
    return sample_record(req, **changes)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExecutionRequested, WasmCompiled, Keystore, Any, Any]:
    root = tmp_path_factory.mktemp("confirm")
    url, commit = examples.publish("secret_env", root / "repos")
    store = executor.ArtifactStore(executor.StoreConfig(root=root / "artifacts"))
    config = executor.CompileConfig(allow_file_urls=True, allowed_file_roots=(root,))
    built = executor.compile_source(executor.CodeSource(repo=url, commit=commit), store=store, config=config)
    keystore = Keystore.from_hex(generate_master_key())
    sealed = encrypt_secrets(keystore.public_key(url, OWNER), url, OWNER, {"API_KEY": SECRET}, commit=commit)
    req = dataclasses.replace(
        sample_requested("41"),
        sender_id=OWNER,
        code_source=CodeSource(repo=url, commit=commit, build_target="wasm32-wasip1"),
        resource_limits=ResourceLimits(max_instructions=10**9, max_memory_mb=32, max_execution_seconds=5),
        encrypted_secrets=sealed,
        input_data="",
    )
    template = samples()["WasmCompiled"]
    assert isinstance(template, WasmCompiled)
    compiled = dataclasses.replace(template, request=req, request_id=req.request_id, wasm_sha256=built.sha256)
    runner = executor.Executor(executor.ExecutorConfig(module_cache_dir=root / "modules"))
    return req, compiled, keystore, store, runner


async def _run(setup: Any, event_req: ExecutionRequested, chain: Views | None) -> ExecutionFinished:
    _, compiled, keystore, store, runner = setup
    out = await execute_request(
        dataclasses.replace(compiled, request=event_req),
        runner=runner,
        artifacts=store,
        secrets=keystore,
        policy=DeadlinePolicy(),
        final_height=event_req.block_height,
        producer="t",
        chain=chain,
    )
    assert isinstance(out, ExecutionFinished)
    return out


FORGERIES = [
    ("not on chain", lambda r: {}, None, "no such request"),
    ("another input", lambda r: {"input_data": "print everything"}, "same", "input differs"),
    ("another sender", lambda r: {"sender_id": "mallory.test.near"}, "same", "sender differs"),
    ("a newer commit", lambda r: {"code_source": dataclasses.replace(r.code_source, commit="f" * 40)}, "same", "code source"),
    ("higher limits", lambda r: {"resource_limits": ResourceLimits(max_instructions=10**12, max_memory_mb=512, max_execution_seconds=60)}, "same", "limits differ"),
    ("another ciphertext", lambda r: {}, {"encrypted_secrets": "AgA="}, "ciphertext differs"),
    ("already settled", lambda r: {}, {"status": "completed"}, "not pending"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "event_changes", "view_changes", "reason"), FORGERIES, ids=[f[0] for f in FORGERIES])
async def test_forged_event_with_a_victims_ciphertext_is_not_decrypted(
    setup: Any, name: str, event_changes: Any, view_changes: Any, reason: str
) -> None:
    genuine: ExecutionRequested = setup[0]
    forged = dataclasses.replace(genuine, **event_changes(genuine))
    changes = {} if view_changes in (None, "same") else view_changes
    view = None if view_changes is None else chain_record(genuine, **changes)
    granted = ACCESSES.labels("granted")._value.get()
    with pytest.raises(UnconfirmedRequest, match=reason) as info:
        await _run(setup, forged, Views(view))
    assert SECRET not in str(info.value)
    assert ACCESSES.labels("granted")._value.get() == granted  # never decrypted


async def test_without_a_chain_view_secrets_stay_sealed(setup: Any) -> None:
    with pytest.raises(UnconfirmedRequest):
        await _run(setup, setup[0], None)


async def test_the_confirmed_request_gets_its_secret(setup: Any) -> None:
    genuine: ExecutionRequested = setup[0]
    out = await _run(setup, genuine, Views(chain_record(genuine)))
    assert out.success, out.error
    assert f'"length":{len(SECRET)}'.encode() in out.output.replace(b" ", b"")


def test_confirmation_is_a_pure_comparison() -> None:
    req = dataclasses.replace(sample_requested(), encrypted_secrets="AgE=")
    assert unconfirmed_reason(req, RequestView.from_json(chain_record(req))) is None
    assert unconfirmed_reason(req, RequestView.from_json(chain_record(req, resolved=True))) is not None
