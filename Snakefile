# The workflow lives in workflow/Snakefile (the layout of the snakemake-workflows catalog,
# and the file a module names); this file lets `snakemake` find it from the root too.
include: "workflow/Snakefile"


# Snakemake keeps the default target of an included file to itself, so it is named here:
# workflow/Snakefile's `rule all`, everything the run makes.
rule default:
    default_target: True
    input:
        rules.all.input,
