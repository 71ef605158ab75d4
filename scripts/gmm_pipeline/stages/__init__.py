"""One module per rule's computation, each ending in a ``..._to_files(...)`` function that
reads a job's inputs and writes its outputs. Imports every layer below but ``execution``.
"""
