"""The config before any job runs: schema checks and their one-line errors, the plan of
datasets and sweep points, and the memory estimate. Imports ``files`` and ``maths``.
"""
