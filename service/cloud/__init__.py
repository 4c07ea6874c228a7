"""Cloud side of dasedge: ``create_cloud_app`` (:mod:`service.cloud.app`), idempotent ingestion
(:mod:`service.cloud.ingest`) and ``dasedge cloud`` (:mod:`service.cloud.cli`)."""
