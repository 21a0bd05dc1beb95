"""
posenet_bench: how fast posenet_ros runs, per stage and configuration, beside the original.

One module per part of a run:
  grid         the configurations, the per-stage timing of our engine, the report's rows
  original     the original tfjs PoseNet timed on the same configuration (Node.js, wasm)
  accuracy     COCO keypoint AP per configuration (AP against speed)
  ros_latency  frame latency through posenet_node over DDS
  camera       posenet_node fed at camera rates
  ros_measure  latency and camera-rate measurements through the node, for the two above
  ros_session  the node process and the client that feeds it
  run          one run over the grid, all of the above in turn
  report       the Markdown page, the console table, the files written
  plots        the speed and AP-vs-FPS figures
  cli          the command line (`posenet_bench`, alias `posenet-bench`)
"""
