"""
A V4L2 camera (v4l2_camera_node) and posenet_node reading it, in one namespace.

    ros2 launch posenet_ros camera.launch.py
    ros2 launch posenet_ros camera.launch.py video_device:=/dev/video2 width:=1280 height:=720
    ros2 launch posenet_ros camera.launch.py namespace:=front params_file:=/path/to/posenet.yaml
    ros2 launch posenet_ros camera.launch.py autostart:=false   # for a lifecycle manager

Needs the v4l2_camera package (apt install ros-$ROS_DISTRO-v4l2-camera). The camera publishes
image_raw; posenet_node reads it and publishes poses, poses/markers and poses/image.
use_compressed, autostart and use_depth are passed on to posenet.launch.py: left out, the
parameters file's values hold.
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node, PushRosNamespace


def generate_launch_description():
    share = Path(get_package_share_directory('posenet_ros'))
    width = LaunchConfiguration('width')
    height = LaunchConfiguration('height')
    camera = Node(
        package='v4l2_camera',
        executable='v4l2_camera_node',
        name='camera',
        parameters=[{
            'video_device': LaunchConfiguration('video_device'),
            # v4l2_camera takes the size as an integer array [width, height].
            'image_size': PythonExpression(['[', width, ', ', height, ']']),
            'camera_frame_id': LaunchConfiguration('frame_id'),
            'output_encoding': 'rgb8',
        }],
        output='screen',
    )
    posenet = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(share / 'launch' / 'posenet.launch.py')),
        launch_arguments={
            # The group below already pushes the namespace: posenet.launch.py must not add it
            # a second time (it would run in /<namespace>/<namespace>).
            'namespace': '',
            'image': 'image_raw',
            'params_file': LaunchConfiguration('params_file'),
            'log_level': LaunchConfiguration('log_level'),
            # '' (left out): the parameters file's value; posenet.launch.py refuses a misspelling.
            'use_compressed': LaunchConfiguration('use_compressed'),
            'autostart': LaunchConfiguration('autostart'),
            'use_depth': LaunchConfiguration('use_depth'),
        }.items(),
    )
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the camera, posenet_node and their '
                                          'topics'),
        DeclareLaunchArgument('video_device', default_value='/dev/video0',
                              description='V4L2 device of the camera'),
        DeclareLaunchArgument('width', default_value='640', description='image width in pixels'),
        DeclareLaunchArgument('height', default_value='480', description='image height in pixels'),
        DeclareLaunchArgument('frame_id', default_value='camera',
                              description="header.frame_id of the images (RViz's fixed frame)"),
        DeclareLaunchArgument('params_file',
                              default_value=str(share / 'config' / 'posenet.yaml'),
                              description='posenet_node parameters (YAML)'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='posenet_node log level'),
        DeclareLaunchArgument('use_compressed', default_value='',
                              description='true: posenet_node reads image_raw/compressed; '
                                          "'': the parameters file's value"),
        DeclareLaunchArgument('autostart', default_value='',
                              description='false: posenet_node waits unconfigured for a '
                                          "lifecycle manager; '': the parameters file's value"),
        DeclareLaunchArgument('use_depth', default_value='',
                              description='true: posenet_node also reads depth/image and '
                                          "camera_info; '': the parameters file's value"),
        GroupAction([
            PushRosNamespace(LaunchConfiguration('namespace')),
            # posenet first: a misspelt argument stops the launch before the camera starts.
            posenet,
            camera,
        ]),
    ])
