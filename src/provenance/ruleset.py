"""Rules as data: YAML files validated on load, with errors that name the file and line.

Rules come in layers: the defaults shipped in ``rules/`` (installed as ``provenance.rules``), then each
``--rules DIR`` the user gives, in order; a later layer overrides an earlier one entry by entry (for agents:
by product token). Every run records a hash of all layers (``rules_hash``).
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ProvenanceError


class RulesError(ProvenanceError):
    """A rules file that cannot be used: file, line and what is wrong."""


# -- loading with line numbers --------------------------------------------------------------------------
def _node_at(node, loc: tuple) -> yaml.Node | None:
    """The YAML node at a pydantic error location, for its line number."""
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == key:
                    nxt = v
                    break
            if nxt is None:
                return node
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return node
    return node


def load_yaml(path: str | Path, model: type[BaseModel]) -> BaseModel:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise RulesError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            node = _node_at(root, tuple(err["loc"])) if root is not None else None
            line = node.start_mark.line + 1 if node is not None else 1
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msgs.append(f"{path}:{line}: {where}: {err['msg']}")
        raise RulesError("\n".join(msgs)) from exc


# -- layers -----------------------------------------------------------------------------------------------
def shipped_dir() -> Path:
    return Path(str(resources.files("provenance.rules")))


def layers(rules_dirs: list[str | Path] | None = None) -> list[Path]:
    out = [shipped_dir()]
    for d in rules_dirs or []:
        p = Path(d)
        if not p.is_dir():
            raise RulesError(f"{p}: no such rules folder")
        out.append(p)
    return out


def rules_hash(rules_dirs: list[str | Path] | None = None) -> str:
    """Hash of every rules file of every layer (layer order, names and contents)."""
    h = hashlib.sha256()
    for i, d in enumerate(layers(rules_dirs)):
        for p in sorted(d.glob("*.y*ml")):
            h.update(f"{i}\0{p.name}\0".encode() + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


# -- agents -----------------------------------------------------------------------------------------------
Purpose = Literal["training", "search", "user-triggered", "mixed"]


class Agent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1)
    operator: str = "unknown"
    purpose: Purpose = "mixed"
    kind: Literal["crawler", "control"] = "crawler"
    evaluate: bool = True
    source: str | None = None
    note: str | None = None

    @field_validator("token")
    @classmethod
    def _token(cls, v: str) -> str:
        # RFC 9309 §2.2.1: a product token is letters, "_" and "-"; we also accept digits and dots seen in the wild
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", v):
            raise ValueError(f"{v!r} is not a robots.txt product token (letters, digits, '_', '-', '.')")
        return v


class AgentsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agents: list[Agent]


def load_agents(rules_dirs: list[str | Path] | None = None) -> list[Agent]:
    """All agents of all layers; a later layer's entry replaces an earlier one with the same token."""
    merged: dict[str, Agent] = {}
    for d in layers(rules_dirs):
        f = d / "agents.yaml"
        if f.exists():
            for a in load_yaml(f, AgentsFile).agents:
                merged[a.token.lower()] = a
    return list(merged.values())


def evaluated_agents(rules_dirs=None, only: list[str] | None = None) -> list[Agent]:
    """The agents a consent evaluation uses: ``only`` (tokens, any case) or those with evaluate: true."""
    agents = load_agents(rules_dirs)
    if only:
        by = {a.token.lower(): a for a in agents}
        out = []
        for t in only:
            out.append(by.get(t.lower()) or Agent(token=t))
        return out
    return [a for a in agents if a.evaluate]


def import_ai_robots_json(path: str | Path) -> list[Agent]:
    """Agents from the ai.robots.txt project's robots.json (token -> operator, function, ...)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise RulesError(f"{path}: expected a JSON object keyed by user-agent token")
    out = []
    seen: set[str] = set()
    for token, info in data.items():
        if token.lower() in seen:
            continue  # product tokens match case-insensitively (RFC 9309 §2.2.1): the list repeats a few
        seen.add(token.lower())
        info = info if isinstance(info, dict) else {}
        fn = str(info.get("function", "")).lower()
        if re.search(r"train|dataset|scraper|learning", fn):
            purpose = "training"
        elif "search" in fn:
            purpose = "search"
        elif re.search(r"assistant|agent|user|prompt", fn):
            purpose = "user-triggered"
        else:
            purpose = "mixed"
        operator = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", str(info.get("operator", "unknown"))).strip() or "unknown"
        try:
            out.append(Agent(token=token, operator=operator[:200], purpose=purpose, evaluate=False,
                             source="ai.robots.txt robots.json", note=str(info.get("function", ""))[:200] or None))
        except ValidationError:
            continue  # a token robots.txt cannot name (spaces, ...): skip it
    return out


def write_agents_yaml(agents: list[Agent], path: str | Path) -> None:
    rows = [a.model_dump(exclude_none=True) for a in agents]
    Path(path).write_text("# imported agents\n" + yaml.safe_dump({"agents": rows}, sort_keys=False, allow_unicode=True))
