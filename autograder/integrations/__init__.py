"""What connects the course to other systems.

- :mod:`.cluster`: grading on a Dask distributed cluster (``python -m autograder grade --scheduler``);
- :mod:`.links`: Binder and JupyterHub (nbgitpuller) links to the release notebooks;
- :mod:`.publish`: the student repository (release notebooks and ``resnet_utils`` only) that
  Binder serves.
"""
