# Step 2: multi-seed fitting.


# Fit every (covariance type, component count, seed) start of one dataset; keep the best
# per type and count. One job per dataset: each start is made once and serves every
# covariance type, so a change to fit.covariance_types refits the dataset.
rule fit_models:
    input:
        unpack(dataset_files),
    output:
        starts="results/fit/{dataset}/starts.csv",
        models="results/fit/{dataset}/models.json",
        provenance="results/fit/{dataset}/provenance.json",
    log:
        "results/logs/fit_models/{dataset}.log",
    priority: PRIORITY["fit"]
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=120,
    params:
        code=step_code("fit_models"),
        fit=dataset_fit_settings,
    script:
        "../../scripts/fit_models.py"
