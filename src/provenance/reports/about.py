"""What only a person can say about a dataset (motivation, funding, uses, distribution, maintenance, who
provides the model), from a small YAML file the user fills in. Every field is optional; a report marks
each missing one as missing instead of guessing. ``provenance datasheet --about-template`` prints a
starter file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ..ruleset import load_yaml


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Motivation(_Section):
    purpose: str | None = None
    creators: str | None = None
    funding: str | None = None


class Uses(_Section):
    intended: str | None = None
    out_of_scope: str | None = None


class Distribution(_Section):
    how: str | None = None
    terms: str | None = None


class Maintenance(_Section):
    maintainer: str | None = None
    contact: str | None = None
    updates: str | None = None


class Provider(_Section):
    """Section 1 of the EU public summary: who places the model on the market."""

    name: str | None = None
    contact: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    placed_on_market: str | None = None
    sme: bool = False


class About(_Section):
    pretty_name: str | None = None
    description: str | None = None
    license: str | None = None  # the dataset's own license (SPDX id or "other"), for the dataset card
    source_datasets: list[str] = []
    language: list[str] = []
    task_categories: list[str] = []  # Hugging Face task categories the dataset is meant for (e.g. text-generation)
    motivation: Motivation = Motivation()
    uses: Uses = Uses()
    distribution: Distribution = Distribution()
    maintenance: Maintenance = Maintenance()
    provider: Provider = Provider()


def load_about(path: str | Path | None) -> About:
    """The about file, validated (errors name file:line), or an empty one when ``path`` is None."""
    if path is None:
        return About()
    return load_yaml(path, About)


def template_text() -> str:
    return resources.files("provenance.reports").joinpath("templates/about.example.yaml").read_text(encoding="utf-8")
