"""Settings: env prefix, secret file permissions, default secrets refused outside development."""

from __future__ import annotations

import os

import pytest

from service.settings import Settings


def test_env_prefix_and_secret_hidden(monkeypatch):
    monkeypatch.setenv("DASEDGE_DB_URL", "postgresql://u@h/db")
    monkeypatch.setenv("DASEDGE_EDGE_KEY", "s3cr3t-value-xyz")
    s = Settings(_env_file=None)
    assert s.db_url == "postgresql://u@h/db"
    assert s.edge_key_value() == "s3cr3t-value-xyz"
    assert "s3cr3t" not in repr(s) and "s3cr3t" not in str(s.model_dump())


def test_key_file_permissions(tmp_path):
    f = tmp_path / "edge.key"
    f.write_text("abcdefgh-real-key\n")
    os.chmod(f, 0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        Settings(_env_file=None, edge_key_file=f)
    os.chmod(f, 0o600)
    assert Settings(_env_file=None, edge_key_file=f).edge_key_value() == "abcdefgh-real-key"


def test_default_secret_refused_outside_development():
    assert Settings(_env_file=None, edge_key="changethis").environment == "development"
    with pytest.raises(ValueError, match="default secret"):
        Settings(_env_file=None, environment="production", edge_key="changethis")
