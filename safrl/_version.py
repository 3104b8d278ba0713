# The project's one version string: the Python package's, and read by CMake (CMakeLists.txt) for
# the safrl binary and the server's `info` reply.
__version__ = "0.2.0"
