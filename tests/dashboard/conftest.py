"""Reuse the cloud fixture (real cloud app on PostgreSQL over uvicorn) for the cloud dashboard test."""

from tests.service_cloud.conftest import cloud  # noqa: F401
