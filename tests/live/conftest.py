import pytest

from live.stack import live_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The real stack with approval required for promotions (as in the production profile)."""
    s = live_stack(tmp_path_factory.mktemp("live"), extra_env={"MLOPS_REQUIRE_APPROVAL": "true"})
    try:
        yield s.start()
    finally:
        s.stop()
