"""Step logic of the gmm-pipeline workflow.

One module per pipeline step (``datasets``, ``fitting``, ``selection``, ``bayesian``,
``anomalies``, ``figures``, ``manifest``), plus the pieces every step shares: ``artifacts``
(atomic writing, hashing), ``provenance`` (where an artifact came from), ``model_io`` (the
portable model format) and ``runner`` (running a step inside a Snakemake job).
"""
