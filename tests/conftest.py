"""Shared pytest fixtures (add yours below; keep each fixture's imports local to it)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _no_user_election_settings() -> Iterator[None]:
    """Tests never see the caller's ELECTION_* variables (the dev banner tells users to export them)."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("ELECTION_")}
    yield
    os.environ.update(saved)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and no real endpoint, so nothing can reach AWS by accident."""
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def moto(aws_env: None) -> Iterator[None]:
    """moto in-process for one test, with the fake credentials of aws_env."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def pipeline(aws_env: None) -> Iterator[object]:
    """The vote pipeline of two regions on moto in-process, IAM enforced (tests/pipeline_fixture.py)."""
    from moto import mock_aws
    from pipeline_fixture import Pipeline

    from election.local import iam

    with mock_aws(), iam.enforced():
        yield Pipeline(os.path.join(os.path.dirname(__file__), "..", "config", "local.yaml"))


@pytest.fixture(scope="module")
def election(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A running election per module of voting-page tests: the local stack, or the fake (tests/browser_support.py)."""
    from browser_support import any_election

    with any_election(tmp_path_factory.mktemp("stack")) as e:
        yield e


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Chromium per module of voting-page tests."""
    from browser_support import chromium

    with chromium() as b:
        yield b


def pytest_configure(config: pytest.Config) -> None:
    """moto has no CloudFront response headers policies: tests get an in-memory stand-in (tests/cloudfront_headers_fake.py)."""
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from cloudfront_headers_fake import install

    install()


@pytest.fixture(autouse=True)
def _fresh_cloudfront_headers_policies() -> None:
    """Each test starts with none, as each test's moto starts empty."""
    from cloudfront_headers_fake import FAKE

    with FAKE.lock:
        FAKE.items.clear()
