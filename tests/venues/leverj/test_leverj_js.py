"""Leverj's own JavaScript libraries (@leverj/zka 4.2.1 and @leverj/adapter 4.2.1) against the
testnet: their signed requests (NONCE and SIGN) and orders are accepted, a tampered order or one
signed by another key refused. Needs ``node`` and ``LEVERJ_NODE_MODULES`` naming a folder where
``npm install @leverj/zka@4.2.1 @leverj/adapter@4.2.1`` was run (its ``node_modules``); skipped
otherwise."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import trio

from venues.leverj.testnet import LeverjTestnet

from .conftest import ALICE_ACCOUNT, ALICE_SECRET

MODULES = os.environ.get("LEVERJ_NODE_MODULES", "")
pytestmark = pytest.mark.skipif(not (shutil.which("node") and MODULES and Path(MODULES, "@leverj", "zka").is_dir()),
                                reason="needs node and LEVERJ_NODE_MODULES with @leverj/zka and @leverj/adapter")


async def test_leverj_libraries_sign_what_the_testnet_accepts(leverj_testnet: LeverjTestnet) -> None:
    script = Path(__file__).parent / "js" / "leverj_client.js"
    env = {**os.environ, "NODE_PATH": MODULES}
    with trio.fail_after(60):
        done = await trio.run_process(["node", str(script), leverj_testnet.url, ALICE_ACCOUNT, ALICE_SECRET],
                                      capture_stdout=True, capture_stderr=True, env=env, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    out = json.loads(done.stdout.decode().strip().splitlines()[-1])
    for auth in ("NONCE", "SIGN"):
        assert "ok" in out[f"{auth} balance"], out
        created = out[f"{auth} futures order"]["ok"]
        assert created[0]["status"] == "open" and created[0]["instrument"] == "1"
        assert out[f"{auth} tampered order"] == {"error": "M_INV_ORDSIG"}
    assert out["spot order"]["ok"][0]["instrument"] == "ETHDAI"
    assert out["spot order by another key"] == {"error": "M_INV_ORDSIG"}
    assert len(leverj_testnet.wire_orders) == 3
