"""
posenet_ros: PoseNet human pose estimation.

`posenet_ros.engine` is the ROS-free core (weights, network, preprocessing, decoders);
`posenet_ros.ros` is the ROS 2 adapter (node, parameters, messages, visualization);
`posenet_ros.tools` holds posenet_estimate (the developer tools are the package posenet_tools).
"""
