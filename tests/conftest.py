"""Shared fixtures: offline hub settings, the demo source folders (written once per session), the MiMo stand-in checkpoint and one torch thread per test worker."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from adqa_data.testing.data import write_demo  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def demo_roots(tmp_path_factory):
    """The demo datasets with every defect planted (read-only: copy before modifying)."""
    return write_demo(tmp_path_factory.mktemp("demo"), defects=True)


@pytest.fixture(scope="session")
def clean_demo_roots(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("demo_clean"), defects=False)


@pytest.fixture(scope="session")
def mimo_standin() -> tuple[Path, Path]:
    """(source root, weights dir) of the MiMo-Audio tokenizer stand-in (tests/fixtures/mimo_standin):
    point ADQA_MIMO_AUDIO_SRC at the first and `--codec mimo:<dir>` at the second. Read-only."""
    root = FIXTURES / "mimo_standin"
    return root, root / "MiMo-Audio-Tokenizer"


@pytest.fixture(autouse=True)
def _one_torch_thread_per_worker():
    """`pytest -n 2` on 2 cores: one torch thread per worker, pinned per test and restored after.

    torch's thread count is process-wide, so a module-level set_num_threads would leak into every test
    a worker runs after it; tests that need another count set it inside the test.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
