if SHARDS > 1:

    localrules:
        index_shards,

    rule index_shards:
        input:
            lambda wc: shard_files(f"{OUT}/{wc.stage}/{wc.name}.h5"),
        output:
            index=f"{OUT}/{{stage}}/{{name}}.h5",
        params:
            code=code("index_shards"),
        wildcard_constraints:
            stage="cam|relations|irn|labels",
            name="cams|relations|irn_out|sem_pseudo|ins_pseudo|baseline_cc|baseline_sem_cc",
        log:
            f"{OUT}/logs/index_shards_{{stage}}_{{name}}.log",
        threads: threads_of("index_shards")
        priority: 1
        resources:
            mem_mb=mem_mb("index_shards"),
            runtime=runtime("index_shards"),
        conda:
            "../../envs/irn.yaml"
        script:
            "../scripts/index_shards.py"
