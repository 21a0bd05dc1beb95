#!/usr/bin/env bash
# Run every test of posenet_ros and posenet_tools (sets the project up first when needed).
#
#   scripts/test.sh                  the whole suite
#   scripts/test.sh -m 'not dds'     the quick subset: no test that starts a node or uses DDS
#   scripts/test.sh -k node -x       any pytest arguments are passed on
#
# Exits non-zero when a test fails, and also when no test ran at all.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bash "$REPO/scripts/setup.sh"
set +u  # the ROS setup scripts read unset variables
# shellcheck disable=SC1091
source "$REPO/env.sh"
set -u

cd "$REPO"
status=0
# -ra: list every skip with its reason at the end.
python -m pytest -ra posenet_ros/test posenet_tools/test "$@" || status=$?
if [[ $status -eq 5 ]]; then
  echo "[test] ERROR: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
