"""Rule prepare_toy: generate the built-in toy dataset in VOC layout."""
from pathlib import Path

from irn_core.io import write_json
from irn_core.progress import log, log_to
from irn_core.toy import ToySettings, write_toy_dataset

with log_to(snakemake.log[0]):
    stats = write_toy_dataset(Path(snakemake.output.stats).parent, ToySettings(**snakemake.params.toy))
    log(f"prepare_toy: {stats['images']} images, same-class touching in {stats['touching_fraction']:.0%}")
    write_json(snakemake.output.stats, {**stats, "settings": snakemake.params.toy})
