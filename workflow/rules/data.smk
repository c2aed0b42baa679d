if config["dataset"]["kind"] == "toy":

    rule prepare_toy:
        output:
            dataset_lists(),
            stats=f"{DATA}/toy.json",
        log:
            log_file("prepare_toy"),
        benchmark:
            benchmark_file("prepare_toy")
        conda:
            "../../envs/irn.yaml"
        threads: threads_of("prepare_toy")
        resources:
            mem_mb=mem_mb("prepare_toy"),
            runtime=runtime("prepare_toy"),
        params:
            cfg=settings("prepare_toy"),
            code=code("prepare_toy"),
        script:
            "../scripts/prepare_toy.py"


rule check_dataset:
    input:
        split_inputs,
    output:
        manifest=manifest("{split}"),
        largest=run_file(layout.LARGEST, split="{split}"),
    log:
        log_file("check_dataset_{split}"),
    benchmark:
        benchmark_file("check_dataset_{split}")
    wildcard_constraints:
        split="train|eval|val",
    priority: 2
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("check_dataset")
    resources:
        mem_mb=mem_mb("check_dataset"),
        runtime=runtime("check_dataset"),
    params:
        cfg=lambda wc: settings("check_dataset", wc.split),
        split_key=lambda wc: SPLIT_LISTS[wc.split],
        code=code("check_dataset"),
    script:
        "../scripts/check_dataset.py"
