# Step 4: Bayesian weight pruning.


# Fit a BayesianGaussianMixture and count the components whose weight survives.
rule prune_weights:
    input:
        unpack(dataset_files),
    output:
        weights="results/bayes/{dataset}/weights.csv",
        summary="results/bayes/{dataset}/summary.json",
        provenance="results/bayes/{dataset}/provenance.json",
    log:
        "results/logs/prune_weights/{dataset}.log",
    priority: PRIORITY["fit"]
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=60,
    params:
        code=step_code("prune_weights"),
        bayesian=setting("bayesian"),
    script:
        "../../scripts/prune_weights.py"
