"""
ament_python package posenet_ros: PoseNet engine (ROS-free), its ROS 2 node and posenet_estimate.

Benchmarks, evaluation and parity tools are in the separate package posenet_tools.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'posenet_ros'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={'posenet_ros.engine': ['model_hashes.json']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', glob('launch/*.launch.py')),
        ('share/' + PACKAGE + '/config',
         glob('config/*.yaml') + glob('config/*.rviz') + glob('config/*.xml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='posenet_ros maintainers',
    maintainer_email='maintainers@posenet-ros.dev',
    description=('Real-time human pose estimation for ROS 2 with PoseNet (MobileNetV1) '
                 'in TensorFlow.'),
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'posenet_node = posenet_ros.ros.node_main:main',
            'posenet_image_publisher = posenet_ros.ros.image_publisher:main',
            'posenet_demo = posenet_ros.ros.demo:main',
            'posenet_estimate = posenet_ros.tools.estimate:main',
            'posenet_quantize = posenet_ros.tools.quantize:main',
            # The name it had before (benchmarks and evaluation moved to posenet_tools).
            'posenet-estimate = posenet_ros.tools.estimate:main',
            'posenet-quantize = posenet_ros.tools.quantize:main',
        ],
    },
)
