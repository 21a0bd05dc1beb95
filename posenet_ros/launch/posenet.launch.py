"""
posenet_node with its parameters file, in a namespace, with the input and output remapped.

    ros2 launch posenet_ros posenet.launch.py
    ros2 launch posenet_ros posenet.launch.py image:=/camera/image_raw namespace:=front
    ros2 launch posenet_ros posenet.launch.py image:=/camera/image_raw use_compressed:=true
    ros2 launch posenet_ros posenet.launch.py params_file:=/path/to/my_posenet.yaml
    ros2 launch posenet_ros posenet.launch.py autostart:=false   # for a lifecycle manager
    ros2 launch posenet_ros posenet.launch.py use_depth:=true \
        image:=/camera/camera/color/image_raw \
        depth_image:=/camera/camera/aligned_depth_to_color/image_raw \
        camera_info:=/camera/camera/color/camera_info                  # a RealSense, aligned depth

posenet_node is a lifecycle node: with autostart:=false it waits unconfigured for
`ros2 lifecycle set /posenet_node configure` (and `activate`) or a lifecycle manager.
use_compressed, autostart and use_depth left out take the parameters file's values (else the
node's defaults); given (true, false, 1 or 0, any case) they override the file. Any other value
stops the launch with an error naming the argument.
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

# Launch arguments that override the parameter of the same name when given (not empty).
BOOLEAN_ARGUMENTS = ('use_compressed', 'autostart', 'use_depth')
TRUE, FALSE = ('true', '1'), ('false', '0')


def _boolean(context, name):
    """
    Return launch argument `name` as a bool, or None when it is empty (left out).

    Spelt as launch's conditions take it (true, True, 1, false, 0); anything else is refused,
    so that a typo such as `autostart:=ture` does not quietly start a node set otherwise.
    """
    value = LaunchConfiguration(name).perform(context)
    spelt = value.strip().lower()
    if not spelt:
        return None
    if spelt in TRUE + FALSE:
        return spelt in TRUE
    raise ValueError(f"launch argument '{name}' is '{value}': give true, false, 1 or 0 (any "
                     "case), or leave it out to take the parameters file's value")


def _posenet_node(context):
    # The parameters file first: the arguments given override it, the others leave it be.
    overrides = {name: value for name in BOOLEAN_ARGUMENTS
                 if (value := _boolean(context, name)) is not None}
    image = LaunchConfiguration('image')
    poses = LaunchConfiguration('poses')
    return [Node(
        package='posenet_ros',
        executable='posenet_node',
        name='posenet_node',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('params_file')] + ([overrides] if overrides else []),
        remappings=[
            ('image', image),
            ('image/compressed', [image, '/compressed']),
            ('poses', poses),
            ('poses/markers', [poses, '/markers']),
            ('poses/image', [poses, '/image']),
            ('depth/image', LaunchConfiguration('depth_image')),
            ('camera_info', LaunchConfiguration('camera_info')),
        ],
        ros_arguments=['--log-level', LaunchConfiguration('log_level')],
        output='screen',
        emulate_tty=True,
    )]


def generate_launch_description():
    share = Path(get_package_share_directory('posenet_ros'))
    default_params = str(share / 'config' / 'posenet.yaml')
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node and its relative topics'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='posenet_node parameters (YAML)'),
        DeclareLaunchArgument('image', default_value='image',
                              description='input sensor_msgs/Image topic; with use_compressed, '
                                          'its /compressed sibling is read'),
        DeclareLaunchArgument('poses', default_value='poses',
                              description='output posenet_msgs/PoseArray topic (poses/markers '
                                          'and poses/image follow it)'),
        DeclareLaunchArgument('use_compressed', default_value='',
                              description='true: subscribe to <image>/compressed (JPEG/PNG); '
                                          "overrides the parameters file; '': the file's value"),
        DeclareLaunchArgument('autostart', default_value='',
                              description='true: configure and activate the lifecycle node at '
                                          'start; false: wait for ros2 lifecycle / a lifecycle '
                                          "manager; overrides the parameters file; '': the "
                                          "file's value"),
        DeclareLaunchArgument('use_depth', default_value='',
                              description='true: also read depth_image and camera_info (people '
                                          'in metres); overrides the parameters file; '
                                          "'': the file's value"),
        DeclareLaunchArgument('depth_image', default_value='depth/image',
                              description='with use_depth: the depth image registered to the '
                                          'colour image (16UC1 mm or 32FC1 m)'),
        DeclareLaunchArgument('camera_info', default_value='camera_info',
                              description="with use_depth: the colour camera's CameraInfo"),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='debug, info, warn, error'),
        OpaqueFunction(function=_posenet_node),
    ])
