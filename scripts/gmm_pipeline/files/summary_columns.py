"""The columns of the summary tables, shared by what writes them and what plans their plots.

A dataset's (or sweep point's) results are summarised as one row per selection criterion
and one row per anomaly detector (:mod:`gmm_pipeline.stages.collect_metrics`); a sweep's figures may draw
any numeric column of either (:mod:`gmm_pipeline.config.plan` checks the configured ones). The
anomaly step's per-row scores table names its detectors' columns here too. This module
imports nothing, so the Snakefile can read it while Snakemake plans the run.
"""

CRITERION_COLUMNS = (
    "criterion",
    "downstream",
    "covariance_type",
    "n_components",
    "value",
    "runner_up_covariance_type",
    "runner_up_n_components",
    "gap_to_runner_up",
    "selection_frequency_bootstrap",
    "selection_frequency_data_seed",
    "adjusted_rand_index",
    "normalized_mutual_info",
    "bayes_effective_k",
    "n_anomalies",
    "merged_n_clusters",
    "merged_adjusted_rand_index",
    "fit_seconds",
)
DETECTOR_COLUMNS = ("detector", "n_flagged", "precision", "recall", "f1", "roc_auc", "average_precision")
# The columns a sweep figure may draw: the numbers of each table.
NOT_NUMBERS = ("criterion", "downstream", "covariance_type", "runner_up_covariance_type", "detector")
SUMMARY_METRICS = tuple(column for column in CRITERION_COLUMNS if column not in NOT_NUMBERS)
DETECTOR_METRICS = tuple(column for column in DETECTOR_COLUMNS if column not in NOT_NUMBERS)
# Each anomaly detector's column in scores.csv (the mixture's is the log-density itself,
# lower meaning more anomalous; the others' scores are higher for more anomalous rows).
SCORE_COLUMNS = {
    "gmm": "log_density",
    "noise_component": "noise_log_likelihood_ratio",
    "isolation_forest": "isolation_forest_score",
    "local_outlier_factor": "local_outlier_factor_score",
}
