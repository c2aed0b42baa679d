if SHARDS > 1:
    # one index per sharded stage file; those of temporary stage files are temporary too
    for _name, _temporary in (("index_shards", False), ("index_temporary_shards", True)):
        _files = [f for k, f in layout.STAGE_FILES.items() if (k in layout.TEMPORARY) == _temporary]

        rule:
            name:
                _name
            input:
                lambda wc: shard_files(f"{OUT}/{wc.stage}/{wc.name}.h5"),
            output:
                index=temp(f"{OUT}/{{stage}}/{{name}}.h5") if _temporary else f"{OUT}/{{stage}}/{{name}}.h5",
            log:
                log_file("index_shards_{stage}_{name}"),
            wildcard_constraints:
                stage="|".join(sorted({str(Path(f).parent) for f in _files})),
                name="|".join(sorted(Path(f).stem for f in _files)),
            priority: 1
            localrule: True
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
