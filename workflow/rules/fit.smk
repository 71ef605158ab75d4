# Step 2: multi-seed fitting.


# Fit every (component count, seed) start of one covariance type; keep the best per count.
rule fit_models:
    input:
        unpack(dataset_files),
    output:
        starts="results/fit/{dataset}/{covariance_type}/starts.csv",
        models="results/fit/{dataset}/{covariance_type}/models.json",
        provenance="results/fit/{dataset}/{covariance_type}/provenance.json",
    log:
        "results/logs/fit_models/{dataset}_{covariance_type}.log",
    priority: PRIORITY["sweep"]
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=120,
    params:
        code=step_code("fit_models"),
        fit=fit_settings,
    script:
        "../../scripts/fit_models.py"
