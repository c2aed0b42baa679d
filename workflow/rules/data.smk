if config["dataset"]["kind"] == "toy":

    rule prepare_toy:
        output:
            dataset_files(),
            stats=f"{DATA}/toy.json",
        params:
            toy=config["toy"],
        log:
            f"{OUT}/logs/prepare_toy.log",
        benchmark:
            f"{OUT}/benchmarks/prepare_toy.tsv"
        threads: 1
        resources:
            mem_mb=1000,
        conda:
            "../../envs/irn.yaml"
        script:
            "../scripts/prepare_toy.py"
