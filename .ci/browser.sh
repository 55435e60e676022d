#!/usr/bin/env bash
# CI step: the `adqa-data report` page driven in headless Chromium (tests/report/test_report.py -m browser).
#
# Installs Debian's chromium and chromium-driver when either is missing (the page is tested in the
# browser users open it in; Selenium drives it through the packaged driver, nothing is downloaded at
# test time), then runs the browser tests in the active environment (the main .venv: selenium and plotly
# come with the dev extra). Screenshots at desktop and phone widths go to $ADQA_ARTIFACTS
# (default: artifacts/ in the repository), under report-screenshots/.
# Idempotent: a rerun finds the packages installed and only runs the tests.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export ADQA_ARTIFACTS="${ADQA_ARTIFACTS:-$(pwd)/artifacts}"

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "== installing chromium and chromium-driver (apt) =="
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
chromium --version
python -c "import selenium, plotly" || { echo "selenium and plotly are needed: pip install -e '.[dev]'" >&2; exit 1; }

mkdir -p "$ADQA_ARTIFACTS"
# one browser at a time: the 2-core machine runs the other tests beside it otherwise
python -m pytest -q -m browser tests/report/test_report.py
echo "screenshots: $ADQA_ARTIFACTS/report-screenshots"
