"""Records of what ran: code identity, provenance, verification of a results folder, the
run history and comparison of runs. Imports ``files``.
"""
