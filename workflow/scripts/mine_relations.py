"""Rule mine_relations: confident foreground/background label maps from CAMs (+ dense CRF)."""

from irn_core.progress import log_to
from irn_core.stages import rule_config
from irn_core.stages.relations import mine_relations

with log_to(snakemake.log[0]):
    mine_relations(
        rule_config(snakemake),
        snakemake.input.cams,
        snakemake.output.relations,
        snakemake.threads,
        snakemake.params.shard,
    )
