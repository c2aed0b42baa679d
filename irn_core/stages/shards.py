"""Stage of sharded runs: one index file over a per-image stage's shard files (irn_core.shards), so
later stages read one stage file."""

from __future__ import annotations

from ..progress import log
from ..shards import write_index

# what each runner reads (irn_core.config.rule_settings): the shard files only
SETTINGS = {
    "index_shards": [],
}


def index_shards(out_path: str, shard_paths: list[str]) -> dict:
    """The index ``out_path`` of the shard files ``shard_paths`` (external links, in shard order)."""
    done = write_index(out_path, shard_paths)
    log(f"index_shards: {done['images']} images in {done['shards']} shards -> {out_path}")
    return done
