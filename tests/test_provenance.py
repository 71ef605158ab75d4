"""The code identity: computed from the checkout, or taken once per run from Snakemake's process."""

import json
import os
import subprocess

import pytest
from gmm_pipeline.records import provenance


def test_the_code_identity_names_this_checkout():
    identity = provenance.code_identity()
    head = subprocess.run(
        ["git", "-C", str(provenance.REPOSITORY_ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert identity["revision"] in {head, f"{head}-dirty"}
    assert len(identity["code_sha256"]) == 64


def test_a_run_shares_the_identity_its_jobs_cite(monkeypatch):
    monkeypatch.delenv(provenance.CODE_IDENTITY_VARIABLE, raising=False)
    computed = provenance.code_identity()
    monkeypatch.setenv(provenance.CODE_IDENTITY_VARIABLE, "")  # so the test leaves no trace
    provenance.share_code_identity()
    assert json.loads(os.environ[provenance.CODE_IDENTITY_VARIABLE]) == computed
    # A job reads it back as is: a later commit does not change what the run's records say.
    shared = {"revision": "0" * 40, "code_sha256": "a" * 64}
    monkeypatch.setenv(provenance.CODE_IDENTITY_VARIABLE, json.dumps(shared))
    assert provenance.code_identity() == shared


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        json.dumps(["revision", "code_sha256"]),
        json.dumps({"revision": "abc"}),
        json.dumps({"revision": "abc", "code_sha256": "short"}),
        json.dumps({"revision": 3, "code_sha256": "a" * 64}),
        json.dumps({"revision": "abc", "code_sha256": "a" * 64, "extra": 1}),
    ],
)
def test_a_malformed_shared_identity_is_ignored(monkeypatch, value):
    monkeypatch.setenv(provenance.CODE_IDENTITY_VARIABLE, value)
    assert provenance.code_identity() == provenance._computed_code_identity()
    assert provenance.code_identity()["code_sha256"] != "a" * 64
