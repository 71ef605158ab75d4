# Step 1: datasets.


# Check a user's file before anything is made from it. A bad file fails this job alone, so
# the dataset and everything made from an earlier, good file stay as they were.
rule check_input:
    input:
        source=source_path,
    output:
        report="results/data/{dataset}/input_check.json",
        provenance="results/data/{dataset}/input_check.provenance.json",
    log:
        "results/logs/check_input/{dataset}.log",
    priority: PRIORITY["data"]
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=30,
    params:
        code=step_code("check_input"),
        source_sha256=source_content,
        spec=spec,
        min_rows=min_rows,
    script:
        "../../scripts/check_input.py"


# Make each configured dataset from its source (generator, scikit-learn bundle or checked
# file), with injected outliers and standardization where the entry asks.
rule prepare_data:
    input:
        unpack(source_files),
    output:
        data="results/data/{dataset}/data.csv",
        meta="results/data/{dataset}/dataset.json",
        provenance="results/data/{dataset}/provenance.json",
    log:
        "results/logs/prepare_data/{dataset}.log",
    priority: PRIORITY["data"]
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=30,
    params:
        code=step_code("prepare_data"),
        spec=spec,
        min_rows=min_rows,
    script:
        "../../scripts/prepare_data.py"
