rule mine_relations:
    input:
        cams=rules.make_cam.output.cams,
    output:
        relations=f"{OUT}/relations/relations.h5",
    log:
        f"{OUT}/logs/mine_relations.log",
    benchmark:
        f"{OUT}/benchmarks/mine_relations.tsv"
    threads: THREADS
    resources:
        mem_mb=4000,
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/mine_relations.py"
