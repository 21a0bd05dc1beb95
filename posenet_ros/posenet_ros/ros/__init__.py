"""ROS 2 adapter: the node, its parameters, message conversion and visualization."""
