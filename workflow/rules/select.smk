# Step 3: model selection by BIC, AIC, ICL and held-out likelihood, with its stability.


# Held-out log-likelihood of every model, by K-fold cross-validation (each fold's starts
# shared by the covariance types, as in the fitting job).
rule cross_validate:
    input:
        unpack(dataset_files),
    output:
        folds="results/select/{dataset}/cv/folds.csv",
        provenance="results/select/{dataset}/cv/provenance.json",
    log:
        "results/logs/cross_validate/{dataset}.log",
    priority: PRIORITY["fit"]
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=120,
    params:
        code=step_code("cross_validate"),
        fit=dataset_fit_settings,
        cross_validation=setting("selection", "cross_validation"),
    script:
        "../../scripts/cross_validate.py"


# Refit the sweep on bootstrap resamples and on fresh data draws (each replicate's starts
# shared by the covariance types).
rule assess_stability:
    input:
        unpack(dataset_files),
    output:
        replicates="results/select/{dataset}/stability/replicates.csv",
        provenance="results/select/{dataset}/stability/provenance.json",
    log:
        "results/logs/assess_stability/{dataset}.log",
    priority: PRIORITY["fit"]
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=240,
    params:
        code=step_code("assess_stability"),
        fit=dataset_fit_settings,
        stability=setting("selection", "stability"),
        spec=spec,
    script:
        "../../scripts/assess_stability.py"


# Tabulate every criterion over (covariance type, k), choose the model used downstream,
# and say how clear (runner-up, gap) and how stable (selection frequency) the choice is.
rule select_model:
    input:
        unpack(dataset_files),
        starts=rules.fit_models.output.starts,
        models=rules.fit_models.output.models,
        folds=when_on(rules.cross_validate.output.folds, cross_validation_on),
        replicates=when_on(rules.assess_stability.output.replicates, stability_on),
    output:
        starts="results/select/{dataset}/starts.csv",
        criteria="results/select/{dataset}/criteria.csv",
        init_comparison="results/select/{dataset}/init_comparison.csv",
        stability="results/select/{dataset}/stability.csv",
        selection="results/select/{dataset}/selection.json",
        model="results/select/{dataset}/model.json",
        provenance="results/select/{dataset}/provenance.json",
    log:
        "results/logs/select_model/{dataset}.log",
    priority: PRIORITY["select"]
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=30,
    params:
        code=step_code("select_model"),
        selection=setting("selection"),
        criterion=criterion,
        pinned=pinned_model,
    script:
        "../../scripts/select_model.py"


# The bootstrap likelihood-ratio tests of k against k + 1 for one covariance type (on with
# selection.lrt.replicates above 0).
rule test_components:
    input:
        unpack(dataset_files),
        models=rules.fit_models.output.models,
    output:
        tests="results/select/{dataset}/lrt/{covariance_type}.csv",
        replicates="results/select/{dataset}/lrt/{covariance_type}_replicates.csv",
        provenance="results/select/{dataset}/lrt/{covariance_type}.provenance.json",
    log:
        "results/logs/test_components/{dataset}_{covariance_type}.log",
    priority: PRIORITY["fit"]
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=240,
    params:
        code=step_code("test_components"),
        lrt=setting("selection", "lrt"),
        fit=fit_settings,
    script:
        "../../scripts/test_components.py"


# Every covariance type's tests in one table and one figure.
rule summarise_lrt:
    input:
        tests=per_covariance_type(rules.test_components.output.tests, lrt_on),
    output:
        table=report(
            "results/select/{dataset}/lrt.csv",
            caption="../report/lrt_table.rst",
            category="Model selection",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "bootstrap LRT (table)"},
        ),
        figure=report(
            "results/figures/{dataset}/lrt.png",
            caption="../report/lrt.rst",
            category="Model selection",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "bootstrap LRT"},
        ),
        provenance="results/select/{dataset}/lrt.provenance.json",
    log:
        "results/logs/summarise_lrt/{dataset}.log",
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=30,
    params:
        code=step_code("summarise_lrt"),
        lrt=setting("selection", "lrt"),
        figures=setting("figures"),
    script:
        "../../scripts/summarise_lrt.py"


# Bootstrap standard errors and intervals of the chosen model's weights and means, on the
# stability step's bootstrap replicates (on with selection.stability.bootstrap above 0).
rule estimate_uncertainty:
    input:
        unpack(dataset_files),
        model="results/select/{dataset}/model.json",
    output:
        table=report(
            "results/select/{dataset}/parameter_uncertainty.csv",
            caption="../report/parameter_uncertainty_table.rst",
            category="Models",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "parameter uncertainty (table)"},
        ),
        replicates="results/select/{dataset}/parameter_replicates.csv",
        figure=report(
            "results/figures/{dataset}/parameter_uncertainty.png",
            caption="../report/parameter_uncertainty.rst",
            category="Models",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "parameter uncertainty"},
        ),
        provenance="results/select/{dataset}/parameter_uncertainty.provenance.json",
    log:
        "results/logs/estimate_uncertainty/{dataset}.log",
    priority: PRIORITY["anomalies"]
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=60,
    params:
        code=step_code("estimate_uncertainty"),
        stability=setting("selection", "stability"),
        fit=fit_settings,
        figures=setting("figures"),
    script:
        "../../scripts/estimate_uncertainty.py"
