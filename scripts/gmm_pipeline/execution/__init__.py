"""Running a job: its entry (``steps``), the job as data, the process it runs in and its
limits, the warm worker (client and server) and Snakemake's end-of-run hooks. The top layer.
"""
