"""Settings that live in the ledger: the rules layers (and their content hash), the verdict policy, the agents
whose consent is evaluated, the code reference indexes. (The documents store and the PII hashing key's
fingerprint are kept by ``Ledger`` and ``pii_key`` the same way.)

A command that is given a setting records it; a command that is not given it uses the ledger's, so running
``provenance verdicts`` after ``provenance rules apply --rules mine/`` keeps ``mine/``. Every change is
recorded and returned as a line for the user ("rules: ... -> ...; rules hash X -> Y"), including rules files
edited on disk since the ledger last used them. Nothing is changed silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ProvenanceError

KEY_RULES = "setting:rules_layers"
KEY_RULES_HASH = "setting:rules_hash"
KEY_POLICY = "setting:policy"
KEY_AGENTS = "setting:agents"
KEY_CODE = "setting:code_indexes"


@dataclass
class Settings:
    rules: list[str] = field(default_factory=list)  # user layers (the shipped rules are always the first layer)
    rules_hash: str = ""
    policy: str | None = None  # None: the policy file's default
    agents: list[str] | None = None  # None: the rules' agents with evaluate: true
    code_indexes: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # what this command changed, for the user


def _load(led, key: str):
    v = led.meta(key)
    return json.loads(v) if v is not None else None


def shown(path: str) -> str:
    """A recorded (absolute) path as the user would write it: relative to the working folder when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive
        return path
    return path if rel.startswith("..") or "://" in path else rel


def _describe(layers: list[str] | None) -> str:
    return ", ".join(shown(p) for p in layers) if layers else "the shipped rules only"


def _abs(paths) -> list[str]:
    return [os.path.abspath(str(p)) for p in paths]


def current(led) -> Settings:
    """What the ledger holds, without checking or changing anything (for reports and `ledger info`)."""
    return Settings(rules=_load(led, KEY_RULES) or [], rules_hash=led.meta(KEY_RULES_HASH) or "",
                    policy=led.meta(KEY_POLICY), agents=_load(led, KEY_AGENTS),
                    code_indexes=_load(led, KEY_CODE) or [])


def settle(led, *, rules=None, policy: str | None = None, agents: list[str] | None = None,
           code_indexes: list[str] | None = None, write: bool = True) -> Settings:
    """The settings a command runs with: each one given here, else the ledger's. With ``write``, what is new
    or different is recorded, and described in ``changes``. ``agents=["rules"]`` goes back to the rules'
    choice; ``code_indexes=[]`` drops the recorded indexes."""
    from .ruleset import layers as check_layers, rules_hash

    stored = current(led)
    out = Settings()
    # rules layers, and what their files hold now
    recorded_rules = _load(led, KEY_RULES)
    if rules is not None:
        out.rules = _abs(rules)
    else:
        out.rules = list(recorded_rules or [])
        missing = [p for p in out.rules if not Path(p).is_dir()]
        if missing:
            raise ProvenanceError(f"ledger {led.path} uses the rules layer {missing[0]}, which is gone; pass --rules with "
                                  f"the layers to use now (they are recorded)")
    check_layers(out.rules)
    out.rules_hash = rules_hash(out.rules)
    if write and recorded_rules is not None and out.rules != recorded_rules:
        out.changes.append(f"rules: {_describe(recorded_rules)} -> {_describe(out.rules)}; "
                           f"rules hash {stored.rules_hash or '-'} -> {out.rules_hash}")
    elif write and stored.rules_hash and out.rules_hash != stored.rules_hash:
        out.changes.append(f"rules: the files of {_describe(out.rules)} changed since this ledger last used them; "
                           f"rules hash {stored.rules_hash} -> {out.rules_hash}")
    elif write and recorded_rules is None and out.rules:
        out.changes.append(f"rules: {_describe(out.rules)} recorded (rules hash {out.rules_hash})")
    # policy: the one given, else the ledger's, else the rules' default (recorded by name)
    from .ruleset import load_policies

    default_name, policies = load_policies(out.rules)
    if policy is not None and policy not in policies:  # refused before anything is recorded
        from .ruleset import RulesError

        raise RulesError(f"no policy named {policy!r} (--policy) in the rules; defined: {', '.join(policies)}")
    if policy is not None:
        out.policy = policy
    elif stored.policy is not None and stored.policy in policies:
        out.policy = stored.policy
    else:
        out.policy = default_name
        if write and stored.policy is not None:
            out.changes.append(f"policy: {stored.policy} is not in these rules; using their default, {default_name}")
    if write and policy is not None and (stored.policy or default_name) != policy:
        out.changes.append(f"policy: {stored.policy or default_name} -> {policy}")
    # agents
    if agents is not None:
        out.agents = None if [a.lower() for a in agents] == ["rules"] else list(agents)
        if write and out.agents != stored.agents:
            out.changes.append(f"agents: {', '.join(stored.agents) if stored.agents else 'those of the rules'} -> "
                               f"{', '.join(out.agents) if out.agents else 'those of the rules'}")
    else:
        out.agents = stored.agents
    # code reference indexes
    recorded_code = _load(led, KEY_CODE)
    if code_indexes is not None:
        out.code_indexes = _abs(code_indexes)
        if write and out.code_indexes != (recorded_code or []):
            out.changes.append(f"code indexes: {', '.join(map(shown, recorded_code)) if recorded_code else 'none'} -> "
                               f"{', '.join(map(shown, out.code_indexes)) if out.code_indexes else 'none'}")
    else:
        out.code_indexes = list(recorded_code or [])
        gone = [p for p in out.code_indexes if not Path(p).is_dir()]
        if gone:
            raise ProvenanceError(f"ledger {led.path} uses the code index {gone[0]}, which is gone; pass --code-index with "
                                  f"the indexes to use now, or --no-code-index")
    if write and not led.read_only:
        led.set_meta(KEY_RULES, json.dumps(out.rules))
        led.set_meta(KEY_RULES_HASH, out.rules_hash)
        led.set_meta(KEY_POLICY, out.policy)
        led.set_meta(KEY_AGENTS, json.dumps(out.agents) if out.agents is not None else None)
        led.set_meta(KEY_CODE, json.dumps(out.code_indexes))
    return out


def agents_note(tokens: list[str]) -> str | None:
    """The plain sentence to print when no agent is evaluated."""
    if tokens:
        return None
    return ("consent is evaluated for 0 agents: no agent in the rules layers has `evaluate: true` and --agents was "
            "not given, so every document's robots.txt consent stays unknown (set `evaluate: true` in an agents.yaml "
            "layer, or pass --agents GPTBot,CCBot)")
