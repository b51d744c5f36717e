"""Adapters that put provenance inside other data-processing frameworks.

- :mod:`provenance.integrations.datatrove`: ``ProvenanceAnnotator`` and ``ProvenanceFilter``, datatrove
  pipeline steps (needs ``datatrove``; imported only when that module is).
"""
