"""The mathematics, on arrays alone: no files, no config. The EM engine and its compiled
kernels, starts, hierarchies, criteria, the noise component, variational inference, merging
and outlier generation. Imports nothing of the package but ``errors``.
"""
