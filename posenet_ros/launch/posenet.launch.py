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
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node


def _is_true(argument):
    """Return a launch argument as a bool, spelt as launch's conditions take it (true, True, 1)."""
    return PythonExpression(["'", argument, "'.strip().lower() in ('true', '1')"])


def generate_launch_description():
    share = Path(get_package_share_directory('posenet_ros'))
    default_params = str(share / 'config' / 'posenet.yaml')
    namespace = LaunchConfiguration('namespace')
    image = LaunchConfiguration('image')
    poses = LaunchConfiguration('poses')
    use_compressed = LaunchConfiguration('use_compressed')
    autostart = LaunchConfiguration('autostart')
    use_depth = LaunchConfiguration('use_depth')
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
        DeclareLaunchArgument('use_compressed', default_value='false',
                              description='subscribe to <image>/compressed (JPEG/PNG); '
                                          'overrides the parameters file'),
        DeclareLaunchArgument('autostart', default_value='true',
                              description='configure and activate the lifecycle node at start; '
                                          'false: wait for ros2 lifecycle / a lifecycle manager; '
                                          'overrides the parameters file'),
        DeclareLaunchArgument('use_depth', default_value='false',
                              description='also read depth_image and camera_info: people in '
                                          'metres; overrides the parameters file'),
        DeclareLaunchArgument('depth_image', default_value='depth/image',
                              description='with use_depth: the depth image registered to the '
                                          'colour image (16UC1 mm or 32FC1 m)'),
        DeclareLaunchArgument('camera_info', default_value='camera_info',
                              description="with use_depth: the colour camera's CameraInfo"),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='debug, info, warn, error'),
        Node(
            package='posenet_ros',
            executable='posenet_node',
            name='posenet_node',
            namespace=namespace,
            parameters=[LaunchConfiguration('params_file'),
                        {'use_compressed': _is_true(use_compressed),
                         'autostart': _is_true(autostart),
                         'use_depth': _is_true(use_depth)}],
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
        ),
    ])
