"""Rules as data: YAML files validated on load, with errors that name the file and line.

Rules come in layers: the defaults shipped in ``rules/`` (installed as ``provenance.rules``), then each
``--rules DIR`` the user gives, in order; a later layer overrides an earlier one entry by entry (for agents:
by product token). Every run records a hash of all layers (``rules_hash``).
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from importlib import resources
from datetime import date
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


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when there: ~10x faster
    """Safe loading with dates left as strings: pydantic parses them, and a bad one (2024-13-01) gets the
    same file:line error as any other field instead of a bare ValueError from the YAML constructor."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


_LOADED: dict[tuple, BaseModel] = {}


def load_yaml(path: str | Path, model: type[BaseModel]) -> BaseModel:
    """``path`` validated as ``model``; a file already loaded in this process (same size and modification
    time) is not parsed again (every command reads the same rules several times). Callers must not modify
    the returned object."""
    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, model)
    except OSError:
        key = None
    if key is not None and key in _LOADED:
        return _LOADED[key]
    out = _load_yaml(path, model)
    if key is not None:
        _LOADED[key] = out
    return out


def _load_yaml(path: Path, model: type[BaseModel]) -> BaseModel:
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise RulesError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        root = yaml.compose(text, Loader=yaml.SafeLoader)  # node positions, for the file:line of each error
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
    """All agents of all layers. A later layer's entry for a token already known overrides only the fields
    it names (a layer never turns off what it does not mention: an imported list that only describes
    GPTBot leaves it evaluated); a new token is added as written."""
    merged: dict[str, Agent] = {}
    for d in layers(rules_dirs):
        f = d / "agents.yaml"
        if f.exists():
            for a in load_yaml(f, AgentsFile).agents:
                key = a.token.lower()
                if key in merged:
                    given = {k: getattr(a, k) for k in a.model_fields_set if k != "token"}
                    merged[key] = merged[key].model_copy(update=given)
                else:
                    merged[key] = a
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


def import_ai_robots_json(path: str | Path, known: set[str] | None = None) -> list[Agent]:
    """Agents from the ai.robots.txt project's robots.json (token -> operator, function, ...).

    Tokens in ``known`` (lower case; the agents the rules already describe) are written with their source
    and note only, so that the imported layer adds what is new without overriding a curated entry (its
    purpose, its operator, whether it is evaluated). New tokens come with ``evaluate: false``."""
    known = known or set()
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
            note = str(info.get("function", ""))[:200] or None
            if token.lower() in known:
                out.append(Agent(token=token, source="ai.robots.txt robots.json", note=note))
            else:
                out.append(Agent(token=token, operator=operator[:200], purpose=purpose, evaluate=False,
                                 source="ai.robots.txt robots.json", note=note))
        except ValidationError:
            continue  # a token robots.txt cannot name (spaces, ...): skip it
    return out


def write_agents_yaml(agents: list[Agent], path: str | Path) -> None:
    from .safeio import write_text  # an exclusively created temporary file renamed over path

    rows = [a.model_dump(exclude_none=True, exclude_unset=True) for a in agents]
    write_text(path, "# imported agents\n" + yaml.safe_dump({"agents": rows}, sort_keys=False, allow_unicode=True))


# -- categories -----------------------------------------------------------------------------------------
class CategoriesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: list[str] = Field(default_factory=list)
    domains: dict[str, str] = Field(default_factory=dict)

    @field_validator("domains")
    @classmethod
    def _lower(cls, v: dict[str, str]) -> dict[str, str]:
        return {k.strip().lower().rstrip("."): c for k, c in v.items()}


def load_categories(rules_dirs: list[str | Path] | None = None) -> tuple[list[str], dict[str, str]]:
    """(category vocabulary, domain -> category) over all layers; a later layer's entry wins. Every
    category used must be in the vocabulary (checked, with the file and line)."""
    vocab: list[str] = []
    mapping: dict[str, str] = {}
    for d in layers(rules_dirs):
        f = d / "categories.yaml"
        if not f.exists():
            continue
        cf = load_yaml(f, CategoriesFile)
        vocab += [c for c in cf.categories if c not in vocab]
        mapping.update(cf.domains)
    unknown = sorted({c for c in mapping.values() if c not in vocab})
    if unknown:
        raise RulesError(f"categories not in any `categories:` list: {', '.join(unknown)}")
    return vocab, mapping


DPI_CATEGORY = {
    "News": "News & Media", "Academic": "Science & Health", "Biomedical/Health": "Science & Health",
    "Social/Lifestyle": "Lifestyle & Social", "Entertainment": "Entertainment", "E-Commerce": "Shopping",
    "Reviews": "Shopping", "Education/Knowledge": "Education & Reference", "General": "Education & Reference",
    "Business/Finance": "Business & Finance", "Government/Policy": "Law & Government", "Legal": "Law & Government",
    "Technology/Code": "Technology", "Books": "Books & Literature", "Cultural/Artistic": "Arts & Culture",
    "Blog": "Blogs", "Other": "Other",
}


def import_dpi_categories(path: str | Path) -> dict[str, str]:
    """Domain -> category from the Data Provenance Initiative's annotated top-2000 C4 domains CSV
    (column `Domain`, first content domain `Content Domain I`); unannotated rows are skipped."""
    import csv

    out: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"Domain", "Content Domain I"} - set(reader.fieldnames or [])
        if missing:
            raise RulesError(f"{path}: not the DPI domains CSV (no column {', '.join(sorted(missing))})")
        for row in reader:
            cat = DPI_CATEGORY.get((row.get("Content Domain I") or "").strip())
            dom = (row.get("Domain") or "").strip().lower()
            if cat and dom:
                out[dom] = cat
    return out


# -- licenses -------------------------------------------------------------------------------------------
class DomainLicense(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spdx: str
    source: str
    note: str | None = None


class LicensesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    families: dict[str, list[str]] = Field(default_factory=dict)
    domains: dict[str, DomainLicense] = Field(default_factory=dict)


def load_licenses(rules_dirs: list[str | Path] | None = None) -> tuple[dict[str, str], dict[str, DomainLicense]]:
    """(SPDX id -> family, domain -> license) over all layers; a later layer wins per id / per domain."""
    family_of: dict[str, str] = {}
    domains: dict[str, DomainLicense] = {}
    for d in layers(rules_dirs):
        f = d / "licenses.yaml"
        if not f.exists():
            continue
        lf = load_yaml(f, LicensesFile)
        for fam, ids in lf.families.items():
            for i in ids:
                family_of[i] = fam
        domains.update({k.strip().lower(): v for k, v in lf.domains.items()})
    return family_of, domains


# -- terms of service --------------------------------------------------------------------------------
# The Consent in Crisis taxonomy (Longpre et al. 2024): one class for what the terms say about crawling and
# AI, and restrictions that may come with any class.
TOS_CLASSES = ("no-scraping-and-ai", "no-ai", "no-scraping", "conditional", "unrestricted")  # most restrictive first
TOS_RESTRICTIONS = ("non-commercial", "no-redistribution", "non-compete")
TosClauseKind = Literal["no-scraping-and-ai", "no-ai", "no-scraping", "conditional", "unrestricted",
                        "non-commercial", "no-redistribution", "non-compete"]


class TosClause(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clause: TosClauseKind
    source: str = Field(min_length=8, description="URL of the terms")
    seen: date = Field(description="date of the terms version the evidence quotes (or the day it was read)")
    evidence: str = Field(min_length=3, max_length=600, description="short quotation of the clause")
    section: str | None = None
    reported_by: str | None = Field(default=None, description="where the quotation was read, when not the terms page itself")
    note: str | None = None

    @field_validator("source", "reported_by")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v


class TosFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domains: dict[str, list[TosClause]] = Field(default_factory=dict)

    @field_validator("domains")
    @classmethod
    def _nonempty(cls, v: dict[str, list[TosClause]]) -> dict[str, list[TosClause]]:
        for k, clauses in v.items():
            if not clauses:
                raise ValueError(f"{k}: no clauses (remove the domain instead)")
        return {k.strip().lower().rstrip("."): c for k, c in v.items()}


def load_tos(rules_dirs: list[str | Path] | None = None) -> dict[str, list[TosClause]]:
    """domain -> ToS clauses over all layers; a later layer replaces a domain's whole clause list."""
    out: dict[str, list[TosClause]] = {}
    for d in layers(rules_dirs):
        f = d / "tos.yaml"
        if f.exists():
            out.update(load_yaml(f, TosFile).domains)
    return out


def tos_class(clauses: list[TosClause]) -> str | None:
    """The domain's class: the most restrictive class clause (None when only restrictions are listed)."""
    kinds = {c.clause for c in clauses}
    return next((k for k in TOS_CLASSES if k in kinds), None)


# -- verdict policy ---------------------------------------------------------------------------------------
Action = Literal["exclude", "review", "ignore"]
#: the uses a policy's ``signals`` section names (signals.USES)
SignalUse = Literal["tdm", "train-ai", "search", "ai-input", "ai-index"]
#: deprecated names of uses, still accepted in ``signals`` (signals.LEGACY_USES): ``ai-use`` became
#: ``ai-input`` (AIPREF vocab -02's "AI Use" = Content Signals / RSL ``ai-input``), ``train-genai`` became
#: ``train-ai`` (AIPREF vocab -05 on: ``train-ai`` is generative-model training)
SIGNAL_USE_ALIASES = {"ai-use": "ai-input", "train-genai": "train-ai"}
_ACTION_RANK = {"ignore": 0, "review": 1, "exclude": 2}
LICENSE_FAMILIES = ("permissive", "public-domain", "weak-copyleft", "copyleft", "non-commercial",
                    "no-derivatives", "source-available", "proprietary", "unknown")


class RobotsRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agents: list[str] = Field(min_length=1)
    at: Literal["crawl-time", "now"] = "crawl-time"
    disallowed: Action = "exclude"
    unknown: Action = "ignore"


class Policy(BaseModel):
    """How signals become a verdict. Every finding a section names becomes a reason code with its action;
    the verdict is ``exclude`` if any reason excludes, else ``review`` if any asks for review, else
    ``default``. ``ignore`` drops the finding (it is not listed among the reasons)."""

    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(min_length=3)
    default: Literal["include", "review"] = "include"
    robots: list[RobotsRule] = Field(default_factory=list)
    signals: dict[SignalUse, Action] = Field(default_factory=dict)
    tos: dict[TosClauseKind, Action] = Field(default_factory=dict)
    licenses: dict[str, Action] = Field(default_factory=dict)  # license family -> action
    license_ids: dict[str, Action] = Field(default_factory=dict)  # SPDX id -> action, over the family's
    domains: dict[str, Action] = Field(default_factory=dict)  # registered domain or host -> action (takedowns, deals)
    pii: dict[str, Action] = Field(default_factory=dict)  # PII / secret type (EMAIL, PRIVATE_KEY, ...) -> action
    pii_lookalike: Action = "ignore"  # no findings of its own, but near-duplicate to a document with some
    near_duplicates: Action = "ignore"  # every member of a near-duplicate cluster but its representative
    takedowns: Action = "exclude"  # documents a takedown request covers (provenance takedown add)
    code: dict[str, Action] = Field(default_factory=dict)  # license family of matched reference code -> action

    @field_validator("signals", mode="before")
    @classmethod
    def _signal_aliases(cls, v):
        """Deprecated use names (``ai-use``, ``train-genai``) are read as today's (``ai-input``, ``train-ai``),
        with a warning; when both spellings are given, the stricter action wins."""
        if not isinstance(v, dict) or not any(k in SIGNAL_USE_ALIASES for k in v):
            return v
        out: dict = {}
        for k, act in v.items():
            new = SIGNAL_USE_ALIASES.get(k, k)
            if new != k:
                warnings.warn(f"policy signals: {k!r} is a deprecated name of the use {new!r}; write {new!r}",
                              FutureWarning, stacklevel=2)
            old = out.get(new)
            if old is None or _ACTION_RANK.get(act, -1) > _ACTION_RANK.get(old, -1):
                out[new] = act
        return out

    @field_validator("licenses", "code")
    @classmethod
    def _families(cls, v: dict[str, Action]) -> dict[str, Action]:
        bad = [k for k in v if k not in LICENSE_FAMILIES]
        if bad:
            raise ValueError(f"unknown license family {', '.join(bad)}; one of {', '.join(LICENSE_FAMILIES)}")
        return v


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_policy: str | None = None
    policies: dict[str, Policy] = Field(default_factory=dict)


def load_policies(rules_dirs: list[str | Path] | None = None) -> tuple[str, dict[str, Policy]]:
    """(default policy name, name -> policy) over all layers; a later layer replaces a policy by name and
    may name another default."""
    default: str | None = None
    out: dict[str, Policy] = {}
    for d in layers(rules_dirs):
        f = d / "policy.yaml"
        if f.exists():
            pf = load_yaml(f, PolicyFile)
            out.update(pf.policies)
            default = pf.default_policy or default
    if not out:
        raise RulesError("no verdict policy in any rules layer (policy.yaml)")
    default = default or next(iter(out))
    if default not in out:
        raise RulesError(f"policy.yaml: default_policy {default!r} is not defined")
    return default, out


def load_policy(rules_dirs: list[str | Path] | None = None, name: str | None = None) -> tuple[str, Policy]:
    default, pols = load_policies(rules_dirs)
    name = name or default
    if name not in pols:
        raise RulesError(f"no policy named {name!r}; defined: {', '.join(pols)}")
    return name, pols[name]


def check(rules_dirs: list[str | Path] | None = None) -> dict[str, int]:
    """Validate every rules file of every layer; raises RulesError (file:line: what) on the first bad one.
    Returns counts of what was loaded."""
    agents = load_agents(rules_dirs)
    vocab, cats = load_categories(rules_dirs)
    fams, lic = load_licenses(rules_dirs)
    bad = sorted({f for f in fams.values() if f not in LICENSE_FAMILIES})
    if bad:
        raise RulesError(f"licenses.yaml: unknown license family {', '.join(bad)}; one of {', '.join(LICENSE_FAMILIES)}")
    tos = load_tos(rules_dirs)
    _, policies = load_policies(rules_dirs)
    from .pii import TYPES as PII_TYPES, load_config as load_pii_config

    pii = load_pii_config(rules_dirs)
    for name, pol in policies.items():
        bad = sorted(k for k in pol.pii if k.upper() not in PII_TYPES)
        if bad:
            raise RulesError(f"policy.yaml: policies.{name}.pii: unknown type {', '.join(bad)}; one of {', '.join(PII_TYPES)}")
    return {"agents": len(agents), "categories": len(vocab), "categorised domains": len(cats),
            "licensed domains": len(lic), "SPDX ids in families": len(fams), "ToS domains": len(tos),
            "policies": len(policies), "PII detectors on": len(pii.detectors)}


def apply_to_ledger(led, rules_dirs: list[str | Path] | None = None) -> dict[str, int]:
    """Load categories, licenses and ToS clauses of all layers into the ledger's rules_* tables (replacing them)."""
    import pyarrow as pa

    from .licenses import SUPPORTED_IDS

    _, cats = load_categories(rules_dirs)
    fams, lic = load_licenses(rules_dirs)
    fams = dict(fams)
    for sid in sorted(SUPPORTED_IDS):  # jurisdiction ports (CC-BY-SA-3.0-DE) take the unported license's family
        base = re.sub(r"-[A-Z]{2}$", "", sid)
        if sid not in fams and base != sid and base in fams:
            fams[sid] = fams[base]
    tos = load_tos(rules_dirs)
    tos_rows = [dict(domain=d, **c.model_dump()) for d, cl in tos.items() for c in cl]
    tos_schema = pa.schema([("domain", pa.string()), ("clause", pa.string()), ("source", pa.string()),
                            ("seen", pa.date32()), ("evidence", pa.string()), ("section", pa.string()),
                            ("reported_by", pa.string()), ("note", pa.string())])
    tables = {
        "rules_tos": pa.Table.from_pylist(tos_rows, schema=tos_schema),
        "rules_categories": pa.table({"domain": list(cats), "category": list(cats.values())}),
        "rules_license_families": pa.table({"spdx": list(fams), "family": list(fams.values())}),
        "rules_domain_licenses": pa.table({"domain": list(lic), "spdx": [v.spdx for v in lic.values()],
                                           "source": [v.source for v in lic.values()],
                                           "note": pa.array([v.note for v in lic.values()], pa.string())}),
    }
    with led.transaction() as con:
        for name, t in tables.items():
            con.register("_rules_in", t)
            con.execute(f"DELETE FROM {name}")
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _rules_in")
            con.unregister("_rules_in")
    return {name: t.num_rows for name, t in tables.items()}
