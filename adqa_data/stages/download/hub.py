"""Pinned hub datasets: the manifest that pins one, and a resumable snapshot of its repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...core.errors import UserError
from ...core.names import safe_name


def load_manifest(name: str) -> dict[str, Any]:
    """A pinned dataset manifest from `manifests/` (repo checkout) or the installed package copy."""
    import yaml

    safe_name(name, "--hub")  # a file name under manifests/, never a path
    package = Path(__file__).resolve().parents[2]
    for d in (package.parent / "manifests", package / "manifests"):
        p = d / f"{name}.yaml"
        if p.is_file():
            return yaml.safe_load(p.read_text())
    raise UserError(f"no dataset manifest named {name!r}", fix="see manifests/ for the known hub datasets")


def fetch_from_hub(repo_id: str, revision: str | None, dest: Path) -> tuple[Path, str]:
    """Resumable snapshot of a hub dataset repo into `dest`; returns (root, resolved commit)."""
    from huggingface_hub import HfApi, snapshot_download

    try:
        sha = HfApi().dataset_info(repo_id, revision=revision).sha or (revision or "main")
        path = snapshot_download(repo_id, repo_type="dataset", revision=sha, local_dir=str(dest))
    except Exception as e:  # network, auth, offline mode: all user-fixable
        raise UserError(
            f"could not download {repo_id}@{revision or 'main'} from the Hugging Face hub: {e}",
            fix="check network/HF_TOKEN, or copy the dataset and use --from-dir DIR",
        ) from None
    return Path(path), sha
