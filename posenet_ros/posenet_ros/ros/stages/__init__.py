"""The stages of posenet_node's frame pipeline, one module each (see ros/pipeline.py)."""
