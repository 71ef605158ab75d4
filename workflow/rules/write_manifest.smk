# The run manifest.


# List every artifact of the run with its SHA-256, next to the config and code identity.
rule write_manifest:
    input:
        run_artifacts,
    output:
        manifest="results/manifest.json",
    log:
        "results/logs/write_manifest.log",
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=rule_mem_mb(BASE_MIB, RUN_MEM_MB),
        runtime=10,
    params:
        code=step_code("write_manifest"),
    script:
        "../../scripts/write_manifest.py"
