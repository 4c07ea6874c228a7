"""API keys: hashing, verification refusals, scopes, CLI."""

from __future__ import annotations

import subprocess
import sys

from service.auth import ApiKey, create_key, verify_key


def test_key_roundtrip_and_refusals(store):
    kid, plain = create_key(store, ["write"], name="pipeline")
    assert plain.startswith(kid + ".")
    row = store.get_api_key(kid)
    secret = plain.split(".", 1)[1]
    assert secret not in str(row) and row["hash"] != secret and len(row["salt"]) == 32
    k = verify_key(store, plain)
    assert k == ApiKey(key_id=kid, scopes=("write",), name="pipeline")
    assert k.has("read") and k.has("write") and not k.has("admin")
    assert verify_key(store, None) is None
    assert verify_key(store, "") is None
    assert verify_key(store, "garbage") is None
    assert verify_key(store, plain[:-1] + ("A" if plain[-1] != "A" else "B")) is None  # wrong secret
    assert verify_key(store, "dk_00000000." + secret) is None  # unknown id
    assert store.revoke_api_key(kid) and not store.revoke_api_key(kid)
    assert verify_key(store, plain) is None  # revoked


def test_keys_cli(tmp_path):
    db = str(tmp_path / "k.sqlite")
    cmd = [sys.executable, "-m", "dasedge.cli", "keys", "--db", db]
    out = subprocess.run(cmd + ["create", "--scope", "read", "--name", "dash"], capture_output=True, text=True,
                         check=True)
    plain = out.stdout.strip()
    assert "\n" not in plain and plain.startswith("dk_")
    kid = plain.split(".")[0]
    ls = subprocess.run(cmd + ["list"], capture_output=True, text=True, check=True).stdout
    assert kid in ls and "read" in ls and plain.split(".")[1] not in ls
    assert subprocess.run(cmd + ["revoke", kid], capture_output=True, text=True).returncode == 0
    assert subprocess.run(cmd + ["revoke", kid], capture_output=True, text=True).returncode == 1
    from service.store import open_store

    with open_store(db) as s:
        assert verify_key(s, plain) is None
