if config["predict"]["images"]:

    rule predict:
        input:
            unpack(predict_inputs),
        output:
            folder=directory(f"{OUT}/{layout.PREDICT}"),
        log:
            log_file("predict"),
        benchmark:
            benchmark_file("predict")
        conda:
            "../../envs/irn.yaml"
        threads: threads_of("predict")
        resources:
            mem_mb=mem_mb("predict"),
            runtime=runtime("predict"),
            gpu=uses_gpu("predict"),
        params:
            cfg=settings("predict"),
            code=code("predict"),
        script:
            "../scripts/predict.py"
