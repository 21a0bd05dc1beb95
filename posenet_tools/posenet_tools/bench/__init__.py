"""
posenet_bench: how fast posenet_ros runs, per stage and configuration, beside the original.

One module per part of a run:
  grid         the configurations, the per-stage timing of our engine, the report's rows
  precision    the inference paths per precision (float32, int8) and int8's calibration
  original     the original tfjs PoseNet timed on the same configuration (Node.js, wasm)
  accuracy     COCO keypoint AP per configuration (AP against speed)
  ros_latency  frame latency through posenet_node over DDS
  camera       posenet_node fed at camera rates
  ros_measure  latency and camera-rate measurements through the node, for the two above
  ros_session  the node process and the client that feeds it
  run          one run over the grid, all of the above in turn
  machine      the machine and its load average, recorded with the figures
  goals        the speed goals (int8 vs float32, ours through ROS vs the original) checked
  report       the Markdown page, the console table, the files written
  plots        the speed, AP-vs-FPS and through-ROS speed-up figures
  cli          the command line (`posenet_bench`, alias `posenet-bench`)
"""
