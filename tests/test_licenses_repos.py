"""License notice forms met in real repositories (the per-file comparison with ScanCode in
bench/bench_licenses.py --repos-file bench/repos.txt), and the bench's repository list format."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pyarrow as pa
import pytest

from provenance.licenses import SUPPORTED_IDS, detect, scan_batch

REPO = Path(__file__).resolve().parents[1]
RSAL2 = "LicenseRef-scancode-rsalv2"
RSAL1 = "LicenseRef-scancode-redis-source-available-1.0"
ELASTIC_2018 = "LicenseRef-scancode-elastic-license-2018"
PD = "LicenseRef-scancode-public-domain"


def ids(text: str) -> set[str]:
    return {f["spdx"] for f in detect(text)}


REDISEARCH_HEADER = """/*
 * Copyright (c) 2006-Present, Redis Ltd.
 * All rights reserved.
 *
 * Licensed under your choice of the Redis Source Available License 2.0
 * (RSALv2); or (b) the Server Side Public License v1 (SSPLv1); or (c) the
 * GNU Affero General Public License v3 (AGPLv3).
*/"""

ELASTIC_2018_HEADER = """/*
 * Copyright Elasticsearch B.V. and/or licensed to Elasticsearch B.V. under one
 * or more contributor license agreements. Licensed under the Elastic License;
 * you may not use this file except in compliance with the Elastic License.
 */"""

ELASTIC_2_HEADER = """/*
 * Copyright Elasticsearch B.V. and/or licensed to Elasticsearch B.V. under one
 * or more contributor license agreements. Licensed under the Elastic License
 * 2.0; you may not use this file except in compliance with the Elastic License
 * 2.0.
 */"""


@pytest.mark.parametrize(
    "text, expected",
    [
        # a GNU license with its version in a list of choices (RediSearch, Redis 8)
        (REDISEARCH_HEADER, {RSAL2, "SSPL-1.0", "AGPL-3.0-only"}),
        ("Licensed under your choice of the MIT license or the GNU General Public License version 2 or later.",
         {"MIT", "GPL-2.0-or-later"}),
        # Redis Source Available License version 1 (2019): no version between "License" and "Agreement"
        ("This file is available under the Redis Source Available License Agreement", {RSAL1}),
        ("This file is available under the Redis Labs Source Available License Agreement", {RSAL1}),
        ("REDIS SOURCE AVAILABLE LICENSE AGREEMENT\n\nVersion 1, February 21, 2019", {RSAL1}),
        ("Agreement: this Redis Source Available License 2.0 Agreement.", {RSAL2}),
        # the Elastic License before 2.0, and 2.0 itself
        (ELASTIC_2018_HEADER, {ELASTIC_2018}),
        ("ELASTIC LICENSE AGREEMENT\n\nPLEASE READ CAREFULLY THIS ELASTIC LICENSE AGREEMENT", {ELASTIC_2018}),
        (ELASTIC_2_HEADER, {"Elastic-2.0"}),
        # "BSL 1.1" is the Business Source License: after a licensing lead-in, or in a Business Source document
        ("licensed under the BSL 1.1", {"BUSL-1.1"}),
        ("Licensor: Example Corp\nLicensed Work: Example Server\nChange Date: 2029-01-01\n\nTerms of BSL 1.1 apply.",
         {"BUSL-1.1"}),
        ("Distributed under the BSL 1.0 (see LICENSE_1_0.txt)", {"BSL-1.0"}),
        # public-domain statements ScanCode finds in zlib, tmux and stb
        ("/* fitblk.c: example of fitting compressed output to a specified size\n"
         "   Not copyrighted -- provided to the public domain\n   Version 1.1  25 November 2004  Mark Adler */", {PD}),
        ("/*\t$OpenBSD: explicit_bzero.c,v 1.4 2015/08/31 02:53:57 guenther Exp $ */\n/*\n * Public domain.\n"
         " * Written by Matthew Dempsky.\n */\n#include <string.h>\n", {PD}),
        ("/* public domain */\nint x;\n", {PD}),
        # the title line of a single-file library (stb)
        ("// stb_include.h - v0.02 - parse and process #include directives - public domain\n//\n", {PD}),
        ("/* stb_divide.h - v0.94 - public domain - Sean Barrett, Feb 2010\n", {PD}),
        ("This software is dual-licensed to the public domain and under the following\nlicense: you are granted a "
         "perpetual, irrevocable license to copy, modify,\npublish, and distribute this file as you see fit.", {PD}),
        # a GNU license whose "or later" falls just past the window of a multi-license list
        ("// This module is multi-licensed and may be used under the terms\n// of any of the following licenses:\n//\n"
         "//  EPL, Eclipse Public License, V1.0 or later, http://www.eclipse.org/legal\n"
         "//  LGPL, GNU Lesser General Public License, V2.1 or later, http://www.gnu.org/licenses/lgpl.html\n"
         "//  GPL, GNU General Public License, V2 or later, http://www.gnu.org/licenses/gpl.html\n",
         {"LGPL-2.1-or-later", "GPL-2.0-or-later"}),
        # the Elastic License named with its 2.0 file a few words on is 2.0
        ("code covered by the [Elastic license](licenses/ELASTIC-LICENSE-2.0.txt)", {"Elastic-2.0"}),
        # named variants of the 3-clause BSD license are other licenses
        ("license: BSD 3-Clause Clear License", set()),
        ("<name>BSD 3-clause License w/nuclear disclaimer</name>", set()),
        ("Licensed under the BSD 3-Clause license.", {"BSD-3-Clause"}),
    ],
)
def test_repository_notice_forms(text, expected):
    assert ids(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "The BSL 1.1 chip has two pins.",  # no Business Source context
        "Download the Elastic stack; elastic licenses for bands are cheap.",
        "Our sales team handles the Redis source code questions.",
        "// Public domain\n//   UNLICENSE (\"unlicense\", \"The Unlicense\")",  # a title over a list, no full stop
        "# Public domain\n\nWorks whose authors died long ago.",
        "photos.html - 12 pictures - public domain images of birds",
    ],
)
def test_repository_false_positive_guards(text):
    assert detect(text) == []


def test_new_ids_are_supported_and_reach_the_prefilter():
    assert {RSAL1, ELASTIC_2018} <= SUPPORTED_IDS
    # "BSL 1.1" with a lead-in and no "license" word must pass the RE2 prefilter of scan_batch
    out = scan_batch(pa.record_batch([pa.array(["Released under BSL 1.1.", "nothing here"])], names=["text"]))
    assert [{f["spdx"] for f in row} for row in out.to_pylist()] == [{"BUSL-1.1"}, set()]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_licenses", REPO / "bench" / "bench_licenses.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_repo_list_paths_and_per_file_truth(tmp_path):
    b = _bench()
    gd = tmp_path / "r.git"
    gd.mkdir()
    (gd / "HEAD").write_text("ref: refs/heads/main\n")
    lst = tmp_path / "repos.txt"
    lst.write_text(f"# comment\n{gd}@src,!src/vendor  RSAL OR SSPL-1.0   # trailing\n"
                   "= src/rand.c  BSD-3-Clause\n"
                   "absent/repo  MIT\n= x.c  ISC\n")
    entries = b.read_repo_list(lst)
    assert entries == [{"git_dir": str(gd), "expr": "RSAL OR SSPL-1.0", "paths": "src,!src/vendor",
                        "files": [("src/rand.c", "BSD-3-Clause")]}]
    ok = b._path_ok
    assert ok("src/a.c", ["src"], ["src/vendor"]) and not ok("src/vendor/a.c", ["src"], ["src/vendor"])
    assert not ok("srcx/a.c", ["src"], []) and ok("stb_ds.h", ["stb_*.h"], []) and ok("any/where.c", [], [])


def test_older_source_available_licenses_are_in_the_source_available_family():
    from provenance.ruleset import load_licenses

    fams, _ = load_licenses([REPO / "rules"])
    assert fams[RSAL1] == "source-available" and fams[ELASTIC_2018] == "source-available"
