"""
ament_python package posenet_tools: benchmarks, evaluation and parity tools of posenet_ros.

Developer tools only: a robot installs posenet_ros (the node and posenet_estimate) without them.
"""
from setuptools import find_packages, setup

PACKAGE = 'posenet_tools'

# ROS-style names, and the hyphenated names they had before (kept as aliases).
COMMANDS = {
    'posenet_bench': ('posenet_tools.bench.cli:main', 'posenet-bench'),
    'posenet_eval': ('posenet_tools.eval:main', 'posenet-eval'),
    'posenet_parity': ('posenet_tools.parity:main', None),
    'posenet_bench_decode': ('posenet_tools.bench_decode:main', None),
    'posenet_bench_startup': ('posenet_tools.bench.startup:main', None),
    'posenet_bench_cpu': ('posenet_tools.bench.cpu_budget:main', None),
    'posenet_accuracy_study': ('posenet_tools.accuracy_study:main', None),
    'posenet_int8_study': ('posenet_tools.int8_study:main', None),
    'posenet_frontier_study': ('posenet_tools.frontier_study:main', None),
    'posenet_tfjs_reference': ('posenet_tools.tfjs_reference:main', None),
    'posenet_soak': ('posenet_tools.soak:main', None),
    'posenet_bench_people': ('posenet_tools.bench_people:main', None),
    'posenet_bench_image_conversion': ('posenet_tools.bench_image_conversion:main', None),
    'posenet_track_figure': ('posenet_tools.track_figure:main', None),
}

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='posenet_ros maintainers',
    maintainer_email='maintainers@posenet-ros.dev',
    description='Benchmarks, COCO evaluation and parity with the original for posenet_ros.',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            f'{name} = {target}' for name, (target, _) in COMMANDS.items()] + [
            f'{alias} = {target}' for target, alias in COMMANDS.values() if alias],
    },
)
