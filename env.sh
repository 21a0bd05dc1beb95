# Source me in bash (from any folder):   source /path/to/posenet_ros/env.sh
#
# Makes the workspace that scripts/setup.sh built usable in this shell: activates .venv, sources
# the colcon workspace (install/local_setup.bash, plus the system ROS 2 it was built against, if
# any, or else the ROS 2 tools overlay in .ros2_overlay: launch, ros2 CLI, cv_bridge), puts
# posenet_node, posenet_demo, posenet_estimate, posenet_bench, ... on PATH and sets what rclpy needs.
# Sourcing it twice is harmless.

_posenet_env() {
  local repo venv stamp mode ros_setup libs bin
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  venv="$repo/.venv"
  stamp="$repo/.setup-stamp"
  if [[ ! -x "$venv/bin/python" || ! -f "$repo/install/local_setup.bash" ]]; then
    echo "posenet_ros: not set up yet; run $repo/scripts/setup.sh first" >&2
    return 1
  fi

  mode=wheels
  grep -q '^include-system-site-packages *= *true' "$venv/pyvenv.cfg" 2>/dev/null && mode=system
  if [[ $mode == system && -z "${ROS_DISTRO:-}" ]]; then
    ros_setup="$(sed -n 's/^ros_setup=//p' "$stamp" 2>/dev/null)"
    if [[ -f "$ros_setup" ]]; then
      # shellcheck disable=SC1090
      source "$ros_setup"
    else
      echo "posenet_ros: built against a system ROS 2; source its setup.bash first" >&2
      return 1
    fi
  fi

  # shellcheck disable=SC1091
  source "$venv/bin/activate"

  _posenet_prepend() {  # _posenet_prepend VAR DIR: put DIR first in VAR once
    local current="${!1:-}"
    case ":$current:" in
      *":$2:"*) ;;
      *) export "$1=$2${current:+:$current}" ;;
    esac
  }
  if [[ $mode == wheels ]]; then
    # What the wheels' bootstrapper would do by re-executing every Python start.
    for libs in "$venv"/lib/python3.11/site-packages/ros_*.libs; do
      [[ -d "$libs" ]] && _posenet_prepend LD_LIBRARY_PATH "$libs"
    done
    _posenet_prepend LD_LIBRARY_PATH "$venv/lib"
    export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
    # The venv is the "underlay" ROS install.
    _posenet_prepend AMENT_PREFIX_PATH "$venv"
    _posenet_prepend CMAKE_PREFIX_PATH "$venv"
    export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
  fi
  # Camera-sized best-effort messages between local processes need a larger shared-memory
  # segment than Fast DDS's default (see the profile's comment). A profile of the user's wins.
  if [[ "${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}" == rmw_fastrtps_cpp \
        && -z "${FASTDDS_DEFAULT_PROFILES_FILE:-}${FASTRTPS_DEFAULT_PROFILES_FILE:-}" ]]; then
    if [[ "${ROS_DISTRO:-kilted}" == jazzy || "${ROS_DISTRO:-kilted}" == humble ]]; then
      export FASTRTPS_DEFAULT_PROFILES_FILE="$repo/posenet_ros/config/fastdds_large_images.xml"
    else
      export FASTDDS_DEFAULT_PROFILES_FILE="$repo/posenet_ros/config/fastdds_large_images.xml"
    fi
  fi

  if [[ $mode == wheels && -f "$repo/.ros2_overlay/install/local_setup.bash" ]]; then
    # launch, launch_testing, the ros2 CLI and cv_bridge (scripts/setup.sh builds them from
    # ../shared/ros2_overlay), under the project's own workspace.
    # shellcheck disable=SC1091
    source "$repo/.ros2_overlay/install/local_setup.bash"
  fi
  # shellcheck disable=SC1091
  source "$repo/install/local_setup.bash"
  # ament_python installs its executables to lib/<package> (where `ros2 run` finds them).
  # posenet_tools' last, so it comes first: before it existed, posenet-bench and posenet-eval
  # were installed into posenet_ros, where an older build may have left them.
  for bin in "$repo/install/posenet_ros/lib/posenet_ros" \
             "$repo/install/posenet_tools/lib/posenet_tools"; do
    [[ -d "$bin" ]] && _posenet_prepend PATH "$bin"
  done
  unset -f _posenet_prepend
}

_posenet_env
_posenet_env_status=$?
unset -f _posenet_env
if [[ $_posenet_env_status -ne 0 ]]; then
  unset _posenet_env_status
  return 1 2>/dev/null || exit 1
fi
unset _posenet_env_status
