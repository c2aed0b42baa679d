report: "../report/workflow.rst"


rule report:
    input:
        unpack(report_inputs),
    output:
        sweeps=report(f"{OUT}/{layout.REPORT}/sweeps.png", caption="../report/sweeps.rst", category="1. Thresholds"),
        per_class=report(
            f"{OUT}/{layout.REPORT}/per_class.html", caption="../report/per_class.rst", category="2. Pseudo labels"
        ),
        panels=report(
            directory(f"{OUT}/{layout.REPORT}/panels"),
            patterns=["{image_id}.png"],
            caption="../report/panels.rst",
            category="3. Examples",
        ),
        losses=report(f"{OUT}/{layout.REPORT}/losses.png", caption="../report/losses.rst", category="4. Training"),
        wall_time=report(f"{OUT}/{layout.REPORT}/wall_time.png", caption="../report/wall_time.rst", category="5. Run"),
    log:
        log_file("report"),
    conda:
        "../../envs/irn.yaml"
    threads: threads_of("report")
    resources:
        mem_mb=mem_mb("report"),
        runtime=runtime("report"),
    params:
        cfg=settings("report"),
        benchmarks=f"{OUT}/{layout.BENCHMARKS}",
        code=code("report"),
    script:
        "../scripts/report.py"
