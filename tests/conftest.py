import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from adqa_data.demo import write_demo  # noqa: E402


@pytest.fixture(scope="session")
def demo_roots(tmp_path_factory):
    """The demo datasets with every defect planted (read-only: copy before modifying)."""
    return write_demo(tmp_path_factory.mktemp("demo"), defects=True)


@pytest.fixture(scope="session")
def clean_demo_roots(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("demo_clean"), defects=False)
