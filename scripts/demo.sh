#!/usr/bin/env bash
# The demo: a photo streamed as a camera into posenet_node, a line per frame, annotated frames
# saved to out/demo/ (sets the project up first when needed). No camera and no launch needed.
#
#   scripts/demo.sh                          Grace Hopper's photo, 30 frames
#   scripts/demo.sh --source clip.mp4 --frames 100 --rate 15
#   scripts/demo.sh --help                   every option
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

for arg in "$@"; do  # the options, answered before any set-up (the parser needs no ROS)
  if [[ "$arg" == -h || "$arg" == --help ]]; then
    PYTHONPATH="$REPO/posenet_ros" exec python3 -m posenet_ros.ros.demo_options --help
  fi
done

bash "$REPO/scripts/setup.sh"
set +u  # the ROS setup scripts read unset variables
# shellcheck disable=SC1091
source "$REPO/env.sh"
set -u

exec posenet_demo "$@"
