# Clusters from components: merge the criterion's chosen mixture's components, stopping by merging.rule.


# The merge hierarchy from K components to one, the rule's count, and labels per point.
rule merge_components:
    input:
        unpack(dataset_files),
        selection="results/select/{dataset}/selection.json",
        models=rules.fit_models.output.models,
    output:
        merges=report(
            "results/clusters/{dataset}/merges.csv",
            caption="../report/merges.rst",
            category="Clusters",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "merge hierarchy (table)"},
        ),
        labels="results/clusters/{dataset}/labels.csv",
        summary="results/clusters/{dataset}/summary.json",
        provenance="results/clusters/{dataset}/provenance.json",
    log:
        "results/logs/merge_components/{dataset}.log",
    priority: PRIORITY["anomalies"]
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=30,
    params:
        code=step_code("merge_components"),
        criterion=criterion,
        merging=setting("merging"),
    script:
        "../../scripts/merge_components.py"
