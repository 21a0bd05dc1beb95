"""Command-line programs: posenet-estimate, posenet-bench, posenet-eval."""
