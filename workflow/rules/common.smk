# Names shared by the rule files.
DATASETS = list(config["datasets"])
COVARIANCE_TYPES = config["fit"]["covariance_types"]



def dataset_files(wildcards):
    """The data and column description of the job's dataset."""
    return {
        "data": f"results/data/{wildcards.dataset}/data.csv",
        "meta": f"results/data/{wildcards.dataset}/dataset.json",
    }


def run_artifacts(wildcards):
    """Every artifact of the run: each step's outputs for each dataset."""
    per_dataset = [
        rules.generate_data,
        rules.select_model,
        rules.prune_weights,
        rules.extract_anomalies,
        rules.render_figures,
    ]
    paths = []
    for dataset in DATASETS:
        for step in per_dataset:
            paths += expand(list(step.output), dataset=dataset)
        paths += expand(
            list(rules.fit_models.output),
            dataset=dataset,
            covariance_type=COVARIANCE_TYPES,
        )
    return paths
