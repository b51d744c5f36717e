"""Prefect flows: thin orchestration over the provenance library (installed as provenance.pipelines)."""
