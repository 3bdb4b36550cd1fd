"""The one compiled part: the async-generator form of ``@monitor.inference`` (see
``agent/sdk/_streams.c``). Optional: where it cannot be built the SDK uses its pure-Python
wrapper, which behaves the same and costs more per stream."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("agent.sdk._streams", ["agent/sdk/_streams.c"], optional=True)])
