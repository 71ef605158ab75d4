"""Files: atomic, hashed writing and strict reading of artifacts, the portable model format,
table columns and figure saving. Imports ``maths`` (a model file rebuilds an estimator).
"""
