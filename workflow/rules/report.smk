report: "../report/workflow.rst"


rule report:
    input:
        unpack(report_inputs),
    output:
        cam_sweep=report(f"{OUT}/report/cam_sweep.png", caption="../report/cam_sweep.rst", category="1. CAMs"),
        per_class=report(f"{OUT}/report/per_class.html", caption="../report/per_class.rst",
                         category="2. Pseudo labels"),
        panels=report(directory(f"{OUT}/report/panels"), patterns=["{image_id}.png"],
                      caption="../report/panels.rst", category="3. Examples"),
        losses=report(f"{OUT}/report/losses.png", caption="../report/losses.rst", category="4. Training"),
        wall_time=report(f"{OUT}/report/wall_time.png", caption="../report/wall_time.rst", category="5. Run"),
    params:
        run=lambda wildcards, input: str(Path(input.summary).parent),
        classes=config["dataset"]["classes"],
        examples=report_examples,
        code=code("report"),
    log:
        f"{OUT}/logs/report.log",
    threads: threads_of("report")
    resources:
        mem_mb=mem_mb("report"),
        runtime=runtime("report"),
    conda:
        "../../envs/irn.yaml"
    script:
        "../scripts/report.py"
