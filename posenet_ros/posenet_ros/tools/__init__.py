"""
posenet_estimate: poses of photos, folders of photos or videos as JSON.

The tool robots keep; benchmarks and evaluation are in the package posenet_tools.
"""
