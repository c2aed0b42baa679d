"""Rule prepare_toy: generate the built-in toy dataset in VOC layout."""
from irn_core.progress import log, log_to
from irn_core.toy import ToySettings, write_toy_dataset

with log_to(snakemake.log[0]):
    stats = write_toy_dataset(snakemake.params.root, ToySettings(**snakemake.params.toy))
    log(f"prepare_toy: {stats['images']} images, same-class touching in {stats['touching_fraction']:.0%}")
