"""irn_core: the algorithms of IRNet (Ahn, Cho, Kwak, CVPR 2019) as small, pure functions.

One module per concept of the paper: ``voc`` and ``toy`` (data), ``models`` (CAM network and
IRNet), ``cam``, ``relations``, ``propagate`` (random walk), ``instances``, ``evaluate`` and
``io`` (HDF5 / COCO). Nothing here imports snakemake; file paths only appear at the edges.
"""

__version__ = "0.1.0"
