if SHARDS > 1:

    localrules:
        index_shards,

    rule index_shards:
        input:
            lambda wc: shard_files(f"{OUT}/{wc.stage}/{wc.name}.h5"),
        output:
            index=f"{OUT}/{{stage}}/{{name}}.h5",
        log:
            log_file("index_shards_{stage}_{name}"),
        wildcard_constraints:
            stage="|".join(sorted({str(Path(f).parent) for f in layout.STAGE_FILES.values()})),
            name="|".join(sorted(Path(f).stem for f in layout.STAGE_FILES.values())),
        priority: 1
        conda:
            "../../envs/irn.yaml"
        threads: threads_of("index_shards")
        resources:
            mem_mb=mem_mb("index_shards"),
            runtime=runtime("index_shards"),
        params:
            cfg=settings("index_shards"),
            code=code("index_shards"),
        script:
            "../scripts/index_shards.py"
