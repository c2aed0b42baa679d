if config["dataset"]["kind"] == "toy":

    rule prepare_toy:
        output:
            dataset_lists(),
            stats=f"{DATA}/toy.json",
        params:
            toy=settings("toy")["toy"],
            code=code("prepare_toy"),
        log:
            f"{OUT}/logs/prepare_toy.log",
        benchmark:
            f"{OUT}/benchmarks/prepare_toy.tsv"
        threads: threads_of("prepare_toy")
        resources:
            mem_mb=mem_mb("prepare_toy"),
            runtime=runtime("prepare_toy"),
        conda:
            "../../envs/irn.yaml"
        script:
            "../scripts/prepare_toy.py"


rule check_dataset:
    input:
        split_inputs,
    output:
        manifest=f"{OUT}/dataset/{{split}}.json",
    params:
        # the smallest usable image size depends on the CAM inference scales (not for val)
        cfg=lambda wc: settings(*(("cam.scales",) if wc.split != "val" else ()), splits=(wc.split,)),
        split_key=lambda wc: SPLITS[wc.split],
        code=code("check_dataset"),
    wildcard_constraints:
        split="train|eval|val",
    log:
        f"{OUT}/logs/check_dataset_{{split}}.log",
    benchmark:
        f"{OUT}/benchmarks/check_dataset_{{split}}.tsv"
    threads: threads_of("check_dataset")
    priority: 2
    resources:
        mem_mb=mem_mb("check_dataset"),
        runtime=runtime("check_dataset"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/check_dataset.py"
