"""
Developer tools of posenet_ros: benchmarks, COCO evaluation, parity with the original.

Not needed at run time: a robot installs `posenet_ros` alone. Each tool is a module with a
`main` (see setup.py for the commands).
"""
